#!/usr/bin/perl
# Transactions, blocking commands and pinned sessions through cordis, against
# two real redis-server groups (slots 0-511 -> group 1, 512-1023 -> group 2)
# and two workers, beside a reference redis-server 7.0 that gets the same
# commands where a reply must be the one a single Redis gives (compared byte
# for byte).
#
#   1. transactions as Redis: MULTI/EXEC, +QUEUED, EXEC and DISCARD without
#      MULTI, nested MULTI, WATCH inside MULTI, WATCH/UNWATCH/RESET, errors
#      at queue time (EXECABORT) and at run time, keyless commands, keys in
#      two groups (CROSSSLOT when queued, then EXECABORT), pipelines,
#      blocking commands inside MULTI, SELECT, private connections given
#      back to the pool clean
#   2. blocking commands: BLPOP woken by a push, BLPOP's timeout, requests
#      behind a blocked one, BRPOPLPUSH/BLMOVE in one group, other clients of
#      the same worker not held up, a client that leaves while blocked (its
#      backend connection goes, the gauge back to 0), XREAD BLOCK, CLIENT
#      UNBLOCK (BLPOP, WAIT, a WATCHing client) and CLIENT KILL across workers
#   3. session.max_pinned = 2 (a second cordis): the third pinned client of
#      a worker gets the error (BLPOP, WATCH; a transaction without WATCH
#      needs no private connection and runs), the other worker is not
#      limited, a place freed is a place taken again
#   4. sessions.pinned.{transaction,blocking,pubsub} in /api/proxy/stats and
#      cordis_pinned_sessions{kind} in /metrics, and back to 0 (clients done
#      or gone); INFO clients' blocked_clients
#   5. lifecycle: clients inside MULTI, WATCHing and blocked through a HUP
#      in place and through a new worker generation (2 -> 1 workers); SIGQUIT
#      with blocked clients and proxy.drain_timeout 1s
use strict;
use warnings;

use Data::Dumper ();
use Test::More;
use Time::HiRes qw(time sleep);

use CordisTest;
use CordisClient;

$CordisClient::NIL_ARRAY = '(nil array)';

plan tests => 70;
$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(150);
$SIG{PIPE} = 'IGNORE';
my $t_begin = time;

my @R   = map { start_redis() } 1 .. 2;     # group g is $R[g - 1]
my $ref = start_redis();                    # one Redis, the reference
my @P   = map { $_->{port} } @R;
my $RP  = $ref->{port};

my @GROUPS = map { [ $_, "127.0.0.1:$P[$_ - 1]" ] } 1 .. 2;
my @SLOTS  = ([ '0-511', 1 ], [ '512-1023', 2 ]);

# cordis A: every section but 3.
my %A_opt = (groups => \@GROUPS, slots => \@SLOTS, proxy => { workers => 2 });
my $conf = write_conf_in('a', %A_opt);
$A_opt{port}       = $conf->{port};
$A_opt{admin_port} = $conf->{admin_port};
my $cordis = start_cordis($conf);
my $AP = $conf->{port};

# cordis B: session.max_pinned = 2 (per worker).
my $confb = write_conf_in('b', groups => \@GROUPS, slots => \@SLOTS, proxy => { workers => 2 },
                          session => { max_pinned => 2 });
my $cordisb = start_cordis($confb);
my $BP = $confb->{port};

my $CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";
my $EXECABORT = 'EXECABORT Transaction discarded because of previous errors.';
my $MAXPIN    = 'ERR max number of pinned clients reached (session.max_pinned)';

# --- helpers ----------------------------------------------------------------------

# The n-th key "prefix:i" of group g; a hash tag of group g.
sub kg  { my ($prefix, $g, $n) = @_; return key_in_group($prefix, $g, $n) }
sub tag { my ($g, $n) = @_; return '{' . key_in_group('tag', $g, $n) . '}' }

# --- connections that read with sysread into a buffer of their own ----------------

# Direct connections to the backends.
my @D;
sub direct { my ($g) = @_; return $D[$g - 1] //= conn($P[$g - 1]) }
sub dcmd   { my ($g, @c) = @_; return cmd(direct($g), @c) }

# Clients blocked in group g's redis-server (INFO clients), -1 on error.
sub blocked_in {
    my ($g) = @_;
    my $info = dcmd($g, 'INFO', 'clients');
    return -1 if ref $info || !defined $info;
    return $info =~ /^blocked_clients:(\d+)/m ? $1 : -1;
}

# Group g's CLIENT LIST lines, this test's own direct connection left out.
sub backend_clients {
    my ($g) = @_;
    my $l = dcmd($g, 'CLIENT', 'LIST');
    return () if ref $l || !defined $l;
    return grep { !/ cmd=client\|list / } split /\n/, $l;
}

# sessions.pinned of a cordis's /api/proxy/stats as "transaction/blocking/pubsub".
sub pinned_stats {
    my ($cf) = @_;
    my $j = admin_get($cf, '/api/proxy/stats')->{json};
    return 'no sessions.pinned' unless ref $j eq 'HASH' && ref $j->{sessions} eq 'HASH'
                                       && ref $j->{sessions}{pinned} eq 'HASH';
    my $p = $j->{sessions}{pinned};
    return join '/', map { $p->{$_} // 'none' } qw(transaction blocking pubsub);
}

# cordis_pinned_sessions{kind=...} of /metrics as "transaction/blocking/pubsub".
sub pinned_metrics {
    my ($cf) = @_;
    my $t = admin_get($cf, '/metrics')->{content} // '';
    my %m;
    $m{$1} = $2 while $t =~ /^cordis_pinned_sessions\{kind="(\w+)"\} (\d+)$/mg;
    return join '/', map { $m{$_} // 'none' } qw(transaction blocking pubsub);
}

sub model { return admin_get($_[0], '/api/proxy/model')->{json} // {} }

# Steps on fresh connections to cordis and to the reference, replies compared
# byte for byte: [n, cmd...] reads n replies, [n, [cmd], [cmd], ...] sends the
# commands in one write; ['other', n, ...] does it on a second connection
# (another client). Then nothing else may arrive on either. Returns the
# replies cordis gave (decoded) for further checks.
sub vs_ref {
    my ($name, @steps) = @_;
    my %c = (main => [ conn($AP), conn($RP) ], other => [ conn($AP), conn($RP) ]);
    my ($bad, @got);
    for my $st (@steps) {
        my @st = @$st;
        my $who = $st[0] eq 'other' ? shift @st : 'main';
        my ($n, @rest) = @st;
        my @cmds = ref $rest[0] ? @rest : ([@rest]);
        my $label = ($who eq 'other' ? '(other client) ' : '') . join ' ; ', map { join ' ', @$_ } @cmds;
        my ($c, $r) = @{ $c{$who} };
        put($c, @cmds);
        put($r, @cmds);
        my ($gc, $sc) = read_raw($c, $n, 3);
        my ($gr, $sr) = read_raw($r, $n, 3);
        push @got, decode_all($gc);
        $gc .= "<$sc>" if $sc ne 'ok';
        $gr .= "<$sr>" if $sr ne 'ok';
        if ($gc ne $gr) {
            $bad = "step '$label':\n  cordis: " . esc($gc) . "\n  redis:  " . esc($gr);
            last;
        }
    }
    if (!$bad) {
        my ($x, $y) = (pending($c{main}[0], 0.1), pending($c{main}[1], 0.01));
        $bad = "after the last step:\n  cordis: " . esc($x) . "\n  redis:  " . esc($y) if $x ne $y;
    }
    ok(!$bad, $name) or diag($bad);
    disc($_) for map { @$_ } values %c;
    return \@got;
}

# ================================================================================
# 1. Transactions as Redis
# ================================================================================
{
    my $t1 = tag(1);
    my $t2 = tag(2);
    vs_ref('MULTI, SET, INCR, GET, EXEC: +OK, +QUEUED each, the EXEC array passed through; an empty EXEC',
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:a$t2", 10 ],
           [ 1, 'INCR', "tx:a$t2" ],
           [ 1, 'GET', "tx:a$t2" ],
           [ 1, 'EXEC' ],
           [ 1, 'GET', "tx:a$t2" ],
           [ 2, [ 'MULTI' ], [ 'EXEC' ] ]);
    vs_ref('EXEC without MULTI, DISCARD without MULTI: Redis\'s errors',
           [ 1, 'EXEC' ],
           [ 1, 'DISCARD' ],
           [ 1, 'PING' ]);
    vs_ref('nested MULTI: -ERR MULTI calls can not be nested, the transaction goes on',
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:n$t1", 'x' ],
           [ 1, 'MULTI' ],
           [ 1, 'INCR', "tx:n2$t1" ],
           [ 1, 'EXEC' ],
           [ 1, 'MGET', "tx:n$t1", "tx:n2$t1" ]);
    vs_ref('DISCARD: the queue dropped, nothing applied, out of MULTI',
           [ 1, 'SET', "tx:d$t1", 'before' ],
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:d$t1", 'after' ],
           [ 1, 'DEL', "tx:d$t1" ],
           [ 1, 'DISCARD' ],
           [ 1, 'GET', "tx:d$t1" ],
           [ 1, 'EXEC' ]);
    vs_ref('WATCH inside MULTI: Redis\'s error; EXEC then runs the queue',
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:w$t2", 1 ],
           [ 1, 'WATCH', "tx:w$t2" ],
           [ 1, 'EXEC' ]);
    vs_ref('WATCH, another client changes the key, MULTI/SET/EXEC: nil array, the other value stays; '
           . 'WATCH again with no change: EXEC runs',
           [ 1, 'SET', "tx:wk$t1", 'v0' ],
           [ 1, 'WATCH', "tx:wk$t1", "tx:wk2$t1" ],
           [ 'other', 1, 'SET', "tx:wk$t1", 'other' ],
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:wk$t1", 'mine' ],
           [ 1, 'EXEC' ],
           [ 1, 'GET', "tx:wk$t1" ],
           [ 1, 'WATCH', "tx:wk$t1" ],
           [ 'other', 1, 'GET', "tx:wk$t1" ],
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:wk$t1", 'mine' ],
           [ 1, 'EXEC' ],
           [ 1, 'GET', "tx:wk$t1" ]);
    vs_ref('UNWATCH: a change by another client afterwards does not abort EXEC',
           [ 1, 'WATCH', "tx:u$t2" ],
           [ 1, 'UNWATCH' ],
           [ 'other', 1, 'SET', "tx:u$t2", 5 ],
           [ 1, 'MULTI' ],
           [ 1, 'INCR', "tx:u$t2" ],
           [ 1, 'EXEC' ],
           [ 1, 'UNWATCH' ]);
    vs_ref('RESET inside MULTI with WATCH: +RESET, out of MULTI, WATCHes forgotten',
           [ 1, 'WATCH', "tx:r$t1" ],
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:r$t1", 'queued' ],
           [ 1, 'RESET' ],
           [ 'other', 1, 'SET', "tx:r$t1", 'other' ],
           [ 1, 'EXEC' ],
           [ 1, 'MULTI' ],
           [ 1, 'APPEND', "tx:r$t1", '+' ],
           [ 1, 'EXEC' ],
           [ 1, 'GET', "tx:r$t1" ]);
    vs_ref('arity error and unknown command inside MULTI: their errors, then EXECABORT, nothing applied',
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:e$t1", 'x' ],
           [ 1, 'INCR' ],
           [ 1, 'NOSUCHCOMMAND', "tx:e$t1" ],
           [ 1, 'GET', "tx:e$t1" ],
           [ 1, 'EXEC' ],
           [ 1, 'EXISTS', "tx:e$t1" ],
           [ 2, [ 'MULTI' ], [ 'GET' ] ],
           [ 1, 'EXEC' ]);
    vs_ref('errors at run time (syntax, wrong type): queued, then inside the EXEC array',
           [ 1, 'SET', "tx:x$t2", 'str' ],
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:x$t2", 'v', 'NX', 'XX' ],
           [ 1, 'INCR', "tx:x$t2" ],
           [ 1, 'LPUSH', "tx:x$t2", 'e' ],
           [ 1, 'APPEND', "tx:x$t2", '!' ],
           [ 1, 'EXEC' ]);

    # Keys in two groups: CROSSSLOT when queued, then EXECABORT; nothing applied.
    my ($k1, $k2) = (kg('txc', 1), kg('txc', 2));
    my $s = conn($AP);
    put($s, [ 'MULTI' ], [ 'SET', $k1, 'one' ], [ 'SET', $k2, 'two' ], [ 'GET', $k1 ], [ 'EXEC' ]);
    my @got = rds($s, 5);
    is(show(\@got), show([ 'OK', 'QUEUED', { err => $CROSSSLOT }, 'QUEUED', { err => $EXECABORT } ]),
       "keys in two groups inside MULTI: -CROSSSLOT when $k2 is queued, EXEC answers EXECABORT");
    my @left = (dcmd(1, 'EXISTS', $k1), dcmd(2, 'EXISTS', $k2), cmd($s, 'GET', $k1));
    is(show(\@left), show([ 0, 0, undef ]), 'after the aborted cross-group transaction: neither key exists, the client is out of MULTI');
    put($s, [ 'WATCH', $k1 ], [ 'MULTI' ], [ 'SET', $k2, 'w' ], [ 'SET', $k1, 'w' ], [ 'EXEC' ], [ 'GET', $k1 ]);
    @got = rds($s, 6);
    is(show(\@got), show([ 'OK', 'OK', { err => $CROSSSLOT }, 'QUEUED', { err => $EXECABORT }, undef ]),
       "WATCH $k1 (group 1), then a queued SET of $k2 (group 2): CROSSSLOT, EXEC aborts");
    disc($s);

    vs_ref('keyless commands inside MULTI (PING, ECHO, alone and with keys of group 2)',
           [ 1, 'MULTI' ],
           [ 1, 'PING' ],
           [ 1, 'ECHO', 'hello' ],
           [ 1, 'PING', 'x' ],
           [ 1, 'EXEC' ],
           [ 1, 'MULTI' ],
           [ 1, 'ECHO', 'first' ],
           [ 1, 'SET', "tx:k$t2", 'v' ],
           [ 1, 'PING' ],
           [ 1, 'GET', "tx:k$t2" ],
           [ 1, 'EXEC' ]);
    my $o1 = kg('txp', 1);
    my $o2 = kg('txp', 2);
    vs_ref('pipelined: SET, GET of both groups, MULTI..EXEC, WATCH..EXEC, GET, PING in one write: replies in order',
           [ 15, [ 'SET', "tx:p$t1", 5 ], [ 'SET', $o2, 'o2' ], [ 'GET', $o1 ], [ 'MULTI' ],
                 [ 'INCR', "tx:p$t1" ], [ 'INCRBY', "tx:p$t1", 10 ], [ 'GET', "tx:p$t1" ], [ 'EXEC' ],
                 [ 'GET', "tx:p$t1" ], [ 'GET', $o2 ], [ 'WATCH', "tx:p$t1" ], [ 'MULTI' ],
                 [ 'DECR', "tx:p$t1" ], [ 'EXEC' ], [ 'PING' ] ],
           [ 3, [ 'GET', "tx:p$t1" ], [ 'MULTI' ], [ 'DISCARD' ] ]);
    vs_ref('blocking commands inside MULTI do not block: queued, EXEC runs them at once',
           [ 1, 'MULTI' ],
           [ 1, 'BLPOP', "tx:bl$t2", 0 ],
           [ 1, 'BRPOPLPUSH', "tx:bl$t2", "tx:bl2$t2", 0 ],
           [ 1, 'RPUSH', "tx:bl$t2", 'a' ],
           [ 1, 'BLPOP', "tx:bl$t2", 0 ],
           [ 1, 'EXEC' ]);
    vs_ref('WATCH, a change by another client, an empty MULTI/EXEC: nil array; WATCH then a BLPOP that times out, EXEC runs',
           [ 1, 'WATCH', "tx:we$t1" ],
           [ 'other', 1, 'SET', "tx:we$t1", 'x' ],
           [ 2, [ 'MULTI' ], [ 'EXEC' ] ],
           [ 1, 'WATCH', "tx:we$t1" ],
           [ 1, 'BLPOP', "tx:wbl$t1", 0.1 ],
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:we$t1", 'y' ],
           [ 1, 'EXEC' ]);
    vs_ref('SELECT 2: the transaction, its WATCH and its reads are in database 2 (a change in database 0 does not abort it)',
           [ 1, 'SELECT', 2 ],
           [ 1, 'MULTI' ],
           [ 1, 'SET', "tx:db$t2", 'in2' ],
           [ 1, 'EXEC' ],
           [ 1, 'WATCH', "tx:db$t2" ],
           [ 'other', 1, 'SET', "tx:db$t2", 'in0' ],
           [ 1, 'MULTI' ],
           [ 1, 'GET', "tx:db$t2" ],
           [ 1, 'EXEC' ],
           [ 1, 'SELECT', 0 ],
           [ 1, 'GET', "tx:db$t2" ]);

    # Private connections go back to the pool clean: WATCHes left by a client
    # that closed, DISCARDed or RESET do not abort another client's EXEC
    # (three clients of one worker: they share its pool).
    my ($same) = conns_per_worker($AP, 3);
    my ($x, $y, $z) = @$same;
    my $pk = "tx:pool$t1";
    my @r;
    push @r, cmd($x, 'WATCH', $pk);
    disc($x);
    sleep 0.1;
    push @r, cmd($z, 'SET', $pk, 'c1');
    push @r, cmd($y, 'MULTI'), cmd($y, 'SET', $pk, 'y1'), cmd($y, 'EXEC');
    push @r, cmd($y, 'WATCH', $pk), cmd($y, 'MULTI'), cmd($y, 'DISCARD'), cmd($z, 'SET', $pk, 'c2');
    push @r, cmd($z, 'MULTI'), cmd($z, 'SET', $pk, 'z1'), cmd($z, 'EXEC');
    push @r, cmd($y, 'WATCH', $pk), cmd($y, 'RESET'), cmd($z, 'SET', $pk, 'c3');
    push @r, cmd($z, 'MULTI'), cmd($z, 'SET', $pk, 'z2'), cmd($z, 'EXEC'), cmd($y, 'GET', $pk);
    is(show(\@r), show([ 'OK', 'OK', 'OK', 'QUEUED', [ 'OK' ], 'OK', 'OK', 'OK', 'OK', 'OK', 'QUEUED', [ 'OK' ],
                         'OK', 'RESET', 'OK', 'OK', 'QUEUED', [ 'OK' ], 'z2' ]),
       'WATCHes of a client that closed, DISCARDed or RESET do not abort the next EXEC of another client of the worker');
    disc($_) for $y, $z;
}

# ================================================================================
# 2. Blocking commands
# ================================================================================
{
    my ($ra, $rb) = conns_per_worker($AP, 2);
    my ($a1, $a2) = @$ra;
    my ($b1, $b2) = @$rb;
    my $l = kg('bl', 2);

    # BLPOP woken by an LPUSH through cordis; a GET pipelined behind it waits.
    my $t0 = time;
    put($a1, [ 'BLPOP', $l, 10 ], [ 'GET', $l ]);
    my $blk = wait_for(sub { blocked_in(2) == 1 }, 3);
    my $early = pending($a1, 0.2);
    my $push = cmd($b1, 'LPUSH', $l, 'v1');
    my @got = rds($a1, 2, 5);
    ok($blk && $early eq '' && show($push) eq show(1) && show($got[0]) eq show([ $l, 'v1' ]),
       'BLPOP blocks on the backend and returns when another client (other worker) LPUSHes through cordis')
        or diag('blocked: ' . ($blk ? 'yes' : 'no') . ', early bytes: ' . esc($early) . ', LPUSH: ' . show($push)
                . ', replies: ' . show(\@got));
    is(show($got[1]), show(undef), 'a GET pipelined behind the BLPOP is answered after it (the list is empty then)');

    # BLPOP's timeout.
    $t0 = time;
    put($a1, [ 'BLPOP', kg('bl', 1, 1), 1 ]);
    my ($raw, $st) = read_raw($a1, 1, 5);
    my $dt = time - $t0;
    ok($raw eq "*-1\r\n" && $dt >= 0.9 && $dt < 4,
       sprintf('BLPOP with a 1 s timeout: *-1 after %.2f s', $dt)) or diag('got ' . esc($raw) . " ($st)");

    # Commands sent while blocked (later writes) wait for the BLPOP's reply.
    my $wk = kg('bw', 2);
    put($a1, [ 'BLPOP', $wk, 10 ]);
    $blk = wait_for(sub { blocked_in(2) == 1 }, 3);
    put($a1, [ 'PING' ]);
    put($a1, [ 'SET', "$wk:s", 'v' ], [ 'GET', "$wk:s" ]);
    my $held = pending($a1, 0.3);
    my $seen = cmd($b1, 'EXISTS', "$wk:s");
    cmd($b1, 'RPUSH', $wk, 'w');
    @got = rds($a1, 4, 5);
    ok($blk && $held eq '' && show([ $seen, @got ]) eq show([ 0, [ $wk, 'w' ], 'PONG', 'OK', 'v' ]),
       'commands a blocked client sends meanwhile wait: run after its BLPOP is answered, in order')
        or diag('blocked: ' . ($blk // 0) . ', early bytes: ' . esc($held) . ', EXISTS meanwhile and replies: ' . show([ $seen, @got ]));
    vs_ref('pipelined: RPUSH, BLPOP, BLPOP with a short timeout, PING, LLEN in one write: as Redis, in order',
           [ 5, [ 'RPUSH', $wk, 'p1' ], [ 'BLPOP', $wk, 1 ], [ 'BLPOP', $wk, 0.1 ], [ 'PING' ], [ 'LLEN', $wk ] ]);

    # BRPOPLPUSH and BLMOVE, blocked, in one group (hash tag).
    my $t = tag(1);
    put($a1, [ 'BRPOPLPUSH', "src$t", "dst$t", 5 ]);
    $blk = wait_for(sub { blocked_in(1) == 1 }, 3);
    cmd($b1, 'RPUSH', "src$t", 'm1', 'm2');
    my $r1 = rd($a1, 5);
    put($a2, [ 'BLMOVE', "src2$t", "dst$t", 'LEFT', 'RIGHT', 5 ]);
    my $blk2 = wait_for(sub { blocked_in(1) == 1 }, 3);
    cmd($b2, 'RPUSH', "src2$t", 'n1');
    my $r2 = rd($a2, 5);
    my $lr = cmd($b1, 'LRANGE', "dst$t", 0, -1);
    ok($blk && $blk2 && show([ $r1, $r2, $lr ]) eq show([ 'm2', 'n1', [ 'm2', 'n1' ] ]),
       'BRPOPLPUSH and BLMOVE (keys in one group) block, then move the pushed element')
        or diag('blocked: ' . ($blk // 0) . '/' . ($blk2 // 0) . ', replies: ' . show([ $r1, $r2, $lr ]));
    my $x = cmd($a1, 'BLMOVE', kg('bm', 1), kg('bm', 2), 'LEFT', 'RIGHT', 1);
    is(show($x), show({ err => $CROSSSLOT }), 'BLMOVE with keys in two groups: CROSSSLOT at once');

    vs_ref('blocking commands with data at hand or a short timeout answer as Redis (BRPOP BLMPOP BZPOPMIN BZMPOP BRPOPLPUSH BLMOVE)',
           [ 1, 'RPUSH', "bd$t", 'a', 'b', 'c' ],
           [ 1, 'BRPOP', "bd$t", 1 ],
           [ 1, 'BLMPOP', 1, 2, "none$t", "bd$t", 'LEFT', 'COUNT', 5 ],
           [ 1, 'ZADD', "bz$t", 1, 'one', 2, 'two' ],
           [ 1, 'BZPOPMIN', "bz$t", 1 ],
           [ 1, 'BZMPOP', 1, 1, "bz$t", 'MAX' ],
           [ 1, 'RPUSH', "bd$t", 'x' ],
           [ 1, 'BRPOPLPUSH', "bd$t", "bd2$t", 1 ],
           [ 1, 'BLMOVE', "bd2$t", "bd$t", 'RIGHT', 'LEFT', 1 ],
           [ 1, 'BRPOP', "none$t", 0.1 ],
           [ 1, 'BRPOPLPUSH', "none$t", "bd$t", 0.1 ],
           [ 1, 'BZPOPMAX', "none$t", 0.1 ],
           [ 1, 'BLPOP', "none$t", 'nan' ],
           [ 1, 'BLPOP', "none$t", -1 ],
           [ 1, 'LRANGE', "bd$t", 0, -1 ]);

    # Other clients of the same worker are not held up by a blocked one.
    my $bk = kg('hold', 1);
    put($a1, [ 'BLPOP', $bk, 10 ]);
    $blk = wait_for(sub { blocked_in(1) == 1 }, 3);
    my @pipe = map { ([ 'SET', "hold:$_", "v$_" ], [ 'GET', "hold:$_" ]) } 1 .. 100;
    $t0 = time;
    put($a2, @pipe);
    @got = rds($a2, 200, 5);
    $dt = time - $t0;
    my @want = map { ('OK', "v$_") } 1 .. 100;
    ok($blk && show(\@got) eq show(\@want) && $dt < 3,
       sprintf('a client blocked in BLPOP does not hold up 200 pipelined SET/GET of another client of its worker (%.2f s)', $dt))
        or diag('blocked: ' . ($blk // 0) . ', replies: ' . substr(show(\@got), 0, 300));
    cmd($b1, 'RPUSH', $bk, 'free');
    is(show(rd($a1, 5)), show([ $bk, 'free' ]), 'the blocked client then gets its element');

    # A client that leaves while blocked.
    my $gone = conn($AP);
    my $gk = kg('gone', 2);
    my @before = backend_clients(2);
    put($gone, [ 'BLPOP', $gk, 0 ]);
    $blk = wait_for(sub { blocked_in(2) == 1 }, 3);
    my @during = backend_clients(2);
    my $pin_during = pinned_stats($conf);
    disc($gone);
    my @after;
    my $down = wait_for(sub { @after = backend_clients(2); @after < @during && !grep { /cmd=blpop/ } @after }, 5);
    ok($blk && $down && blocked_in(2) == 0,
       'a client closed while blocked: its backend connection closes (CLIENT LIST count '
       . scalar(@before) . ' -> ' . scalar(@during) . ' -> ' . scalar(@after) . ', nothing blocked on the backend)')
        or diag("CLIENT LIST after:\n" . join("\n", @after));
    my $pin;
    ok($pin_during eq '0/1/0' && wait_for(sub { ($pin = pinned_stats($conf)) eq '0/0/0' }, 3),
       "sessions.pinned (transaction/blocking/pubsub) $pin_during while blocked, back to 0/0/0 after")
        or diag('sessions.pinned after: ' . ($pin // ''));
    # The list is still usable, and nobody took the element the closed client
    # waited for.
    cmd($b1, 'RPUSH', $gk, 'kept');
    is(show(cmd($b1, 'LRANGE', $gk, 0, -1)), show([ 'kept' ]), 'an element pushed after the client left stays in the list');

    # XREAD BLOCK.
    my $xs = kg('xs', 1);
    cmd($b1, 'XADD', $xs, '1-1', 'f', 'old');
    put($a1, [ 'XREAD', 'BLOCK', 5000, 'STREAMS', $xs, '$' ]);
    $blk = wait_for(sub { blocked_in(1) == 1 }, 3);
    my $id = cmd($b2, 'XADD', $xs, '*', 'f', 'new');
    my $xr = rd($a1, 5);
    ok($blk && show($xr) eq show([ [ $xs, [ [ $id, [ 'f', 'new' ] ] ] ] ]),
       'XREAD BLOCK ... $ blocks, then returns the entry XADDed by another client')
        or diag('blocked: ' . ($blk // 0) . ', XADD ' . show($id) . ', XREAD ' . show($xr));
    $t0 = time;
    put($a1, [ 'XREAD', 'BLOCK', 300, 'STREAMS', $xs, '$' ]);
    ($raw, $st) = read_raw($a1, 1, 5);
    $dt = time - $t0;
    ok($raw eq "*-1\r\n" && $dt >= 0.25, sprintf('XREAD BLOCK 300 with nothing new: *-1 after %.2f s', $dt))
        or diag('got ' . esc($raw) . " ($st)");

    # CLIENT UNBLOCK, from a client of the other worker.
    my $uk = kg('unb', 2);
    my $cid = cmd($a1, 'CLIENT', 'ID');
    put($a1, [ 'BLPOP', $uk, 0 ]);
    $blk = wait_for(sub { blocked_in(2) == 1 }, 3);
    my $u = cmd($b1, 'CLIENT', 'UNBLOCK', $cid);
    ($raw, $st) = read_raw($a1, 1, 3);
    ok($blk && show($u) eq show(1) && $raw eq "*-1\r\n" && wait_for(sub { blocked_in(2) == 0 }, 3),
       "CLIENT UNBLOCK $cid (the blocked client's CLIENT ID) from the other worker: :1, BLPOP answers *-1, nothing blocked on the backend")
        or diag('blocked: ' . ($blk // 0) . ', UNBLOCK: ' . show($u) . ', BLPOP: ' . esc($raw) . " ($st)");
    put($a1, [ 'BLPOP', $uk, 0 ]);
    $blk = wait_for(sub { blocked_in(2) == 1 }, 3);
    $u = cmd($b1, 'CLIENT', 'UNBLOCK', $cid, 'ERROR');
    my $e = rd($a1, 3);
    my $u0 = cmd($b1, 'CLIENT', 'UNBLOCK', $cid);
    my $after_unblock = cmd($a1, 'RPUSH', $uk, 'z');
    ok($blk && show([ $u, $e, $u0, $after_unblock ]) eq show([ 1, { err => 'UNBLOCKED client unblocked via CLIENT UNBLOCK' }, 0, 1 ]),
       'CLIENT UNBLOCK id ERROR: -UNBLOCKED client unblocked via CLIENT UNBLOCK; a client not blocked: :0; the client works on')
        or diag(show([ $u, $e, $u0, $after_unblock ]));
    put($a1, [ 'WAIT', 1, 0 ]);
    my $wpend = pending($a1, 0.3);
    $u = cmd($b1, 'CLIENT', 'UNBLOCK', $cid);
    ($raw, $st) = read_raw($a1, 1, 3);
    ok($wpend eq '' && show($u) eq show(1) && $raw eq ":0\r\n",
       'WAIT 1 0 (no replica) blocks; CLIENT UNBLOCK: :1, WAIT answers :0')
        or diag('before: ' . esc($wpend) . ', UNBLOCK: ' . show($u) . ', WAIT: ' . esc($raw) . " ($st)");

    # WATCH, then a BLPOP ended by CLIENT UNBLOCK (answered as at its
    # timeout). cordis unblocks by closing the private connection, which
    # held the WATCH: the next EXEC is aborted, as when a watched key
    # changed (Redis itself would run it). A new WATCH works again.
    my $wu = tag(2, 3);
    my @r = (cmd($a1, 'SET', "wu$wu", 1), cmd($a1, 'WATCH', "wu$wu"));
    put($a1, [ 'BLPOP', "wul$wu", 0 ]);
    $blk = wait_for(sub { blocked_in(2) == 1 }, 3);
    push @r, cmd($b1, 'CLIENT', 'UNBLOCK', $cid), rd($a1, 3);
    push @r, cmd($a1, 'MULTI'), cmd($a1, 'SET', "wu$wu", 2), cmd($a1, 'EXEC'), cmd($a1, 'GET', "wu$wu");
    push @r, cmd($a1, 'WATCH', "wu$wu"), cmd($a1, 'MULTI'), cmd($a1, 'SET', "wu$wu", 3), cmd($a1, 'EXEC'),
             cmd($a1, 'GET', "wu$wu");
    ok($blk && show(\@r) eq show([ 'OK', 'OK', 1, '(nil array)', 'OK', 'QUEUED', '(nil array)', 1,
                                   'OK', 'OK', 'QUEUED', [ 'OK' ], 3 ]),
       'WATCH, BLPOP, CLIENT UNBLOCK, then MULTI/SET/EXEC: the WATCH went with the connection, EXEC aborts; the next WATCH/EXEC runs')
        or diag('blocked: ' . ($blk // 0) . ', replies: ' . show(\@r));

    # CLIENT KILL ID of a blocked client, from the other worker.
    my $kk = kg('kill', 1);
    my $kc = conn($AP);
    my $kid = cmd($kc, 'CLIENT', 'ID');
    put($kc, [ 'BLPOP', $kk, 0 ]);
    $blk = wait_for(sub { blocked_in(1) == 1 }, 3);
    my $kn = scalar(backend_clients(1));
    my $kr = cmd($b1, 'CLIENT', 'KILL', 'ID', $kid);
    my $closed = wait_closed($kc, 3);
    my $pk;
    ok($blk && show($kr) eq show(1) && $closed
       && wait_for(sub { blocked_in(1) == 0 && scalar(backend_clients(1)) < $kn }, 3)
       && wait_for(sub { ($pk = pinned_stats($conf)) eq '0/0/0' }, 3),
       'CLIENT KILL ID of a blocked client (other worker): :1, it is closed, its backend connection too, sessions.pinned 0/0/0')
        or diag('blocked: ' . ($blk // 0) . ', KILL: ' . show($kr) . ', closed: ' . $closed . ', backend clients '
                . $kn . ' -> ' . scalar(backend_clients(1)) . ', blocked ' . blocked_in(1) . ', pinned ' . ($pk // ''));
    disc($kc);
    disc($_) for @$ra, @$rb;
}

# ================================================================================
# 3. session.max_pinned = 2 per worker (cordis B)
# ================================================================================
{
    my ($ra, $rb) = conns_per_worker($BP, 5);
    my @a = @$ra;
    my @b = @$rb;
    my @lk = map { kg('lim', 1, $_) } 0 .. 5;
    put($a[0], [ 'BLPOP', $lk[0], 10 ]);
    put($a[1], [ 'BLPOP', $lk[1], 10 ]);
    my $blk = wait_for(sub { blocked_in(1) == 2 }, 3);
    my $third = cmd($a[2], 'BLPOP', $lk[2], 10);
    ok($blk && show($third) eq show({ err => $MAXPIN }),
       "two clients of a worker blocked: a third BLPOP on that worker gets exactly -$MAXPIN")
        or diag('blocked: ' . ($blk // 0) . ', third: ' . show($third));
    my $w = cmd($a[3], 'WATCH', $lk[3]);
    my @m = (cmd($a[3], 'MULTI'), cmd($a[3], 'SET', $lk[3], 'x'), cmd($a[3], 'EXEC'), dcmd(1, 'EXISTS', $lk[3]));
    ok(show($w) eq show({ err => $MAXPIN }) && show(\@m) eq show([ 'OK', 'QUEUED', [ 'OK' ], 1 ]),
       'at the limit: WATCH gets the same error; a transaction without WATCH needs no private connection and runs')
        or diag('WATCH: ' . show($w) . ', MULTI/SET/EXEC/EXISTS: ' . show(\@m));
    put($b[0], [ 'BLPOP', $lk[4], 10 ]);
    put($b[1], [ 'WATCH', $lk[5] ]);
    my $bw = rd($b[1], 3);
    my $bb = wait_for(sub { blocked_in(1) == 3 }, 3);
    my $bp = pending($b[0], 0.1);
    ok($bb && show($bw) eq show('OK') && $bp eq '',
       'the other worker has places of its own: a BLPOP blocks and a WATCH is answered +OK there')
        or diag('blocked on the backend: ' . blocked_in(1) . ', WATCH: ' . show($bw) . ', BLPOP: ' . esc($bp));
    cmd($a[4], 'RPUSH', $lk[0], 'one');
    my $first = rd($a[0], 3);
    my $again;
    wait_for(sub { $again = cmd($a[2], 'WATCH', $lk[2]); !ref $again }, 3);
    my $next = cmd($a[4], 'BLPOP', $lk[0], 10);
    ok(show([ $first, $again, $next ]) eq show([ [ $lk[0], 'one' ], 'OK', { err => $MAXPIN } ]),
       'one of the two gets its element: its place goes to a WATCH refused before; then the limit holds again for a BLPOP')
        or diag('element, WATCH, next BLPOP: ' . show([ $first, $again, $next ]));
    my $unw = cmd($a[2], 'UNWATCH');
    put($a[3], [ 'BLPOP', $lk[0], 10 ]);
    my $blk3 = wait_for(sub { blocked_in(1) == 3 }, 3);
    cmd($a[4], 'RPUSH', $lk[0], 'two');
    my $now = rd($a[3], 3);
    ok($blk3 && show([ $unw, $now ]) eq show([ 'OK', [ $lk[0], 'two' ] ]),
       'UNWATCH frees the place: a BLPOP on that worker blocks now and gets its element')
        or diag('blocked: ' . ($blk3 // 0) . ', UNWATCH and BLPOP: ' . show([ $unw, $now ]));
    disc($_) for @a, @b;
    my $clean = wait_for(sub { pinned_stats($confb) eq '0/0/0' && blocked_in(1) == 0 }, 5);
    # The places were given back: two new clients of worker a block again.
    my ($na) = conns_per_worker($BP, 2);
    put($_, [ 'BLPOP', $lk[0], 10 ]) for @$na;
    my $two = wait_for(sub { blocked_in(1) == 2 }, 3);
    my @np = map { pending($_, 0.05) } @$na;
    ok($clean && $two && !(grep { $_ ne '' } @np),
       'cordis B: every client gone (blocked, WATCHing, refused): sessions.pinned 0/0/0, and two new clients of a worker block again')
        or diag('sessions.pinned: ' . pinned_stats($confb) . ', blocked: ' . blocked_in(1) . ', replies: ' . esc(join ' | ', @np));
    disc($_) for @$na;
}

# ================================================================================
# 4. The pinned gauges in /api/proxy/stats and /metrics
# ================================================================================
{
    my $t = tag(2);
    my ($m, $w, $b, $s) = map { conn($AP) } 1 .. 4;
    put($m, [ 'MULTI' ], [ 'SET', "g:m$t", 1 ]);
    put($w, [ 'WATCH', "g:w$t" ]);
    put($b, [ 'BLPOP', "g:b$t", 10 ]);
    put($s, [ 'SUBSCRIBE', 'g.chan' ]);
    my @r = (rds($m, 2), rd($w), rd($s));
    my $blk = wait_for(sub { blocked_in(2) == 1 }, 3);
    my ($ps, $pm);
    ok($blk && wait_for(sub { ($ps = pinned_stats($conf)) eq '2/1/1' }, 3),
       '/api/proxy/stats sessions.pinned: transaction 2 (MULTI, WATCH), blocking 1, pubsub 1')
        or diag("sessions.pinned: $ps, replies " . show(\@r));
    ok(wait_for(sub { ($pm = pinned_metrics($conf)) eq '2/1/1' }, 3),
       '/metrics cordis_pinned_sessions{kind="transaction|blocking|pubsub"}: 2, 1, 1')
        or diag("metrics: $pm");
    my $q = conn($AP);
    my $info = cmd($q, 'INFO', 'clients');
    my ($bc) = (ref $info ? '' : $info // '') =~ /^blocked_clients:(\d+)/m;
    is($bc, 1, 'INFO clients through cordis: blocked_clients:1 while one client is blocked in BLPOP (as Redis counts it)');
    disc($q);
    @r = (cmd($m, 'EXEC'), cmd($w, 'UNWATCH'), cmd($s, 'UNSUBSCRIBE'));
    cmd($m, 'RPUSH', "g:b$t", 'x');
    push @r, rd($b);
    ok(wait_for(sub { ($ps = pinned_stats($conf)) eq '0/0/0' }, 3),
       'after EXEC, UNWATCH, UNSUBSCRIBE and the push: sessions.pinned 0/0/0')
        or diag("sessions.pinned: $ps, replies " . show(\@r));
    ok(wait_for(sub { ($pm = pinned_metrics($conf)) eq '0/0/0' }, 3), 'and cordis_pinned_sessions 0, 0, 0')
        or diag("metrics: $pm");
    # Clients that leave in each state.
    put($m, [ 'MULTI' ], [ 'SET', "g:m$t", 1 ]);
    put($w, [ 'WATCH', "g:w$t" ]);
    put($b, [ 'BLPOP', "g:b$t", 10 ]);
    put($s, [ 'PSUBSCRIBE', 'g.*' ]);
    @r = (rds($m, 2), rd($w), rd($s));
    $blk = wait_for(sub { blocked_in(2) == 1 }, 3);
    my $during = wait_for(sub { ($ps = pinned_stats($conf)) eq '2/1/1' }, 3);
    disc($_) for $m, $w, $b, $s;
    ok($blk && $during && wait_for(sub { ($ps = pinned_stats($conf)) eq '0/0/0' && ($pm = pinned_metrics($conf)) eq '0/0/0' }, 3),
       'clients that close inside MULTI, WATCHing, blocked and subscribed: sessions.pinned and the metrics back to 0')
        or diag("sessions.pinned: $ps, metrics: " . ($pm // '') . ', replies ' . show(\@r));
}

# ================================================================================
# 5. Lifecycle: HUP in place, a new worker generation, SIGQUIT
# ================================================================================

# Three clients on the given port: one inside MULTI (SET + INCR queued),
# two WATCHing, one blocked in BLPOP. Returns a state hash.
my $round = 0;
sub pinned_clients {
    my $t = tag(1, ++$round);
    my %st = (t => $t, round => $round);
    my @ws = map { conn($AP) } 1 .. 5;
    @st{qw(m w1 w2 b o)} = @ws;
    cmd($st{o}, 'SET', "lc:w2$t", 'orig');
    $st{setup} = [ cmd($st{m}, 'MULTI'), cmd($st{m}, 'SET', "lc:m$t", 40), cmd($st{m}, 'INCR', "lc:m$t"),
                   cmd($st{w1}, 'WATCH', "lc:w1$t"), cmd($st{w2}, 'WATCH', "lc:w2$t") ];
    put($st{b}, [ 'BLPOP', "lc:b$t", 0 ]);
    $st{blocked} = wait_for(sub { blocked_in(1) == 1 }, 3);
    return \%st;
}

# Drives the clients to the end of their pinned states: the push, a changed
# key for the second WATCHer, more for the MULTI client and EXEC. Returns
# the three checks' texts: what was got, to compare with pinned_want.
sub pinned_finish {
    my ($st) = @_;
    my $t = $st->{t};
    my %g;
    $g{push} = cmd($st->{o}, 'RPUSH', "lc:b$t", 'pushed');
    $g{b} = rd($st->{b}, 5);
    $g{m} = [ cmd($st->{m}, 'INCRBY', "lc:m$t", 2), cmd($st->{m}, 'EXEC'), cmd($st->{o}, 'GET', "lc:m$t") ];
    $g{o} = cmd($st->{o}, 'SET', "lc:w2$t", 'changed');
    $g{w} = [ (map { cmd($st->{$_}, 'MULTI'), cmd($st->{$_}, 'SET', "lc:$_$t", 'mine'), cmd($st->{$_}, 'EXEC') } qw(w1 w2)),
              cmd($st->{o}, 'MGET', "lc:w1$t", "lc:w2$t") ];
    return (show([ $st->{blocked} ? 'blocked' : 'not blocked', $g{push}, $g{b} ]),
            show([ @{ $st->{setup} }[ 0 .. 2 ], @{ $g{m} } ]),
            show([ @{ $st->{setup} }[ 3, 4 ], $g{o}, @{ $g{w} } ]));
}

sub pinned_want {
    my ($st) = @_;
    my $t = $st->{t};
    return (show([ 'blocked', 1, [ "lc:b$t", 'pushed' ] ]),
            show([ 'OK', 'QUEUED', 'QUEUED', 'QUEUED', [ 'OK', 41, 43 ], 43 ]),
            show([ 'OK', 'OK', 'OK', 'OK', 'QUEUED', [ 'OK' ], 'OK', 'QUEUED', '(nil array)', [ 'mine', 'changed' ] ]));
}

sub pinned_check {
    my ($st, $when) = @_;
    my @got  = pinned_finish($st);
    my @want = pinned_want($st);
    is($got[0], $want[0], "$when: the client blocked in BLPOP 0 gets the element pushed after it");
    is($got[1], $want[1], "$when: the client inside MULTI queues more, EXEC runs every queued command");
    is($got[2], $want[2], "$when: WATCH holds: EXEC runs for an untouched key, nil for a key changed after the reload");
}

{
    # HUP, applied in place.
    my @w0 = worker_pids($cordis);
    my $st = pinned_clients();
    my @gauges;
    wait_for(sub { ($gauges[0] = pinned_stats($conf)) eq '3/1/0' }, 3);
    write_conf_in('a', %A_opt, session => { max_pipeline => 20000 });
    kill 'HUP', $cordis->{pid};
    my $m;
    ok(wait_for(sub { $m = model($conf); ($m->{reload}{ok} // 0) >= 1 }, 10)
       && ($m->{reload}{last} // '') =~ /^ok: applied in place/ && show([ worker_pids($cordis) ]) eq show(\@w0),
       'HUP (session.max_pipeline) applied in place, the same two workers')
        or diag('reload: ' . show($m->{reload}) . ', workers ' . show([ worker_pids($cordis) ]) . ' were ' . show(\@w0));
    $gauges[1] = pinned_stats($conf);
    pinned_check($st, 'after a HUP in place');
    wait_for(sub { ($gauges[2] = pinned_stats($conf)) eq '0/0/0' }, 3);
    is(join(' ', @gauges), '3/1/0 3/1/0 0/0/0',
       'sessions.pinned (transaction/blocking/pubsub): 3/1/0 before the HUP, the same after, 0/0/0 once done');
    disc($_) for @$st{qw(m w1 w2 b o)};

    # HUP to one worker: a new generation; the old workers hand their
    # clients over once they are unpinned.
    $st = pinned_clients();
    write_conf_in('a', %A_opt, proxy => { workers => 1, drain_timeout => '10s' });
    kill 'HUP', $cordis->{pid};
    my $new;
    ok(wait_for(sub { my @n = grep { my $p = $_; !grep { $_ == $p } @w0 } worker_pids($cordis); $new = $n[0] if @n == 1; @n == 1 }, 10),
       'HUP with proxy.workers 2 -> 1: a new worker starts') or diag('workers: ' . show([ worker_pids($cordis) ]));
    sleep 0.3;
    my $old_alive = grep { kill 0, $_ } @w0;
    pinned_check($st, 'through a new worker generation (2 -> 1)');
    my $gone = wait_for(sub { !grep { kill 0, $_ } @w0 }, 8);
    my @after = map { cmd($st->{$_}, 'PING') } qw(m w1 w2 b);
    ok($gone && show(\@after) eq show([ ('PONG') x 4 ]),
       'once unpinned the clients are handed over: the old workers exit, each client answers PING'
       . ($old_alive ? '' : ' (the old workers had ALREADY exited before the clients were unpinned)'))
        or diag('old workers gone: ' . ($gone ? 'yes' : 'no') . ', PINGs: ' . show(\@after) . ', workers ' . show([ worker_pids($cordis) ]));
    my $g;
    ok(wait_for(sub { ($g = pinned_stats($conf)) eq '0/0/0' }, 3) && pinned_metrics($conf) eq '0/0/0',
       'after the handover: sessions.pinned and cordis_pinned_sessions 0/0/0 (nothing left counted for the old workers)')
        or diag("sessions.pinned $g, metrics " . pinned_metrics($conf));
    disc($_) for @$st{qw(m w1 w2 b o)};

    # SIGQUIT with a client blocked in BLPOP 0 and proxy.drain_timeout 1s.
    my $n_ok = model($conf)->{reload}{ok} // 0;
    write_conf_in('a', %A_opt, proxy => { workers => 1, drain_timeout => '1s' });
    kill 'HUP', $cordis->{pid};
    ok(wait_for(sub { $m = model($conf); ($m->{reload}{ok} // 0) > $n_ok }, 10)
       && ($m->{reload}{last} // '') =~ /^ok: applied in place/,
       'HUP (proxy.drain_timeout 1s) applied in place') or diag('reload: ' . show($m->{reload}));
    my ($bq, $bv) = (conn($AP), conn($AP));
    my ($qk, $vk) = (kg('quit', 2), kg('quit', 2, 1));
    put($bq, [ 'BLPOP', $qk, 0 ]);
    put($bv, [ 'BLPOP', $vk, 0 ]);
    my $blk = wait_for(sub { blocked_in(2) == 2 }, 3);
    my $t0 = time;
    kill 'QUIT', $cordis->{pid};
    sleep 0.3;
    dcmd(2, 'RPUSH', $vk, 'before-deadline');
    my ($vraw, $vst) = read_raw($bv, 1, 3);
    my $vclosed = wait_closed($bv, 3);
    ok($vraw eq resp_encode($vk, 'before-deadline') && $vclosed,
       'SIGQUIT: a blocked client whose element comes before the deadline gets it, then is closed')
        or diag('got ' . esc($vraw) . " ($vst), closed: $vclosed");
    my ($raw, $rst) = read_raw($bq, 1, 10);
    my $dt = time - $t0;
    ok($blk && $dt >= 0.9 && $raw =~ /^-ERR .*cordis is shutting down \(proxy\.drain_timeout passed\)\r\n\z/,
       sprintf('SIGQUIT, drain_timeout 1s: the client blocked in BLPOP 0 is answered "-ERR ... cordis is shutting down (proxy.drain_timeout passed)" (after %.2f s)', $dt))
        or diag('blocked: ' . ($blk // 0) . ', got ' . esc($raw) . " ($rst)");
    ok(wait_closed($bq, 5), 'then its connection is closed');
    my $status = wait_exit($cordis, 15);
    ok(defined $status && $status == 0, 'cordis exits (status 0)')
        or diag('exit status: ' . ($status // 'still running'));
    ok(wait_for(sub { blocked_in(2) == 0 }, 3), 'nothing left blocked on the backend');
    disc($_) for $bq, $bv;
}

# ================================================================================
# The end
# ================================================================================
disc($_) for grep { $_ } @D;
stop_cordis($cordis) if $cordis->{pid};
stop_cordis($cordisb);
log_is_clean($cordis);
log_is_clean($cordisb);
stop_redis($_) for @R, $ref;
diag(sprintf('runtime %.1f s', time - $t_begin));
