#!/usr/bin/perl
# Replica reads (replica.h): read-only commands go to a replica of the
# slot's group when backend.replica_reads is on, against real redis-server
# primaries and replicas (--replicaof), all started here and stopped by pid.
# Where a command ran is read from the servers' own INFO commandstats (reset
# with CONFIG RESETSTAT before each measure). Sentinel is t/73-ha.t's.
#
# Two groups, each a primary and one replica; slots 0-511 -> group 1,
# 512-1023 -> group 2; two workers.
#
#   1. replica_reads off (the default): GETs and SETs through cordis run on
#      the primaries only; stats list the replicas with role "replica"
#   2. SIGHUP with backend.replica_reads = true: GET, HGET, LRANGE, EXISTS,
#      TTL, STRLEN run on the replicas and answer what was written (once
#      replication caught up); MGET in one group and across groups is
#      recorded; SET/INCR/DEL, EVAL, MULTI/EXEC and BLPOP run on the
#      primary; EVAL_RO/EVALSHA_RO and WAIT are recorded
#   3. backend.primary_only = true (replica_reads still true): reads on the
#      primaries; false again: on the replicas
#   4. group 1's replica SIGKILLed under a loop of GETs: no error, no wrong
#      value, reads on the primary; stats/metrics show it "down" with role
#      "replica"; restarted (empty, its primary delaying the full sync):
#      reads come back to it, and none answered from its empty data
#   5. group 2's replica pointed at a dead port (REPLICAOF): "its link to
#      the primary is down", state "stale", reads on the primary; REPLICAOF
#      back: "following its primary again", reads on it again
#   6. replica-serve-stale-data no and the link cut, reads sent at once: the
#      replica answers -MASTERDOWN until ROLE notices; no client sees it
#   7. a second replica in group 1 (SIGHUP): GETs spread over both (all
#      replicas are on 127.0.0.1 here, so all are "near")
use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes qw(sleep time);

use CordisTest;

plan tests => 40;

$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(150);
$SIG{PIPE} = 'IGNORE';
my $t_begin = time;

my $json = JSON::PP->new->allow_nonref->canonical;
sub show { return $json->encode($_[0]) }

# --- Redis: two groups, a primary and a replica each -----------------------------

# The primaries send a full sync at once (Redis 7 waits 5 s by default).
my @P = map { start_redis(args => [ '--repl-diskless-sync-delay', '0' ]) } 1 .. 2;
my @Q = map { start_redis(args => [ '--replicaof', '127.0.0.1', $P[$_]{port} ]) } 0 .. 1;
my @PA = map { "127.0.0.1:$_->{port}" } @P;
my @QA = map { "127.0.0.1:$_->{port}" } @Q;
my $dead_port = free_port();   # nobody listens there

sub info_text {
    my ($port, $section) = @_;
    my $text = eval { redis_cmd($port, 'INFO', $section) } // '';
    return ref $text ? '' : $text;
}

sub info_field {
    my ($port, $section, $field) = @_;
    return (info_text($port, $section) =~ /^\Q$field\E:(\S*)/m)[0] // '';
}

# INFO commandstats: command => calls (rejected calls apart: "name/rejected").
sub cmdstats {
    my ($port) = @_;
    my %c;
    for (split /\r?\n/, info_text($port, 'commandstats')) {
        next unless /^cmdstat_(\S+?):calls=(\d+).*?rejected_calls=(\d+)/;
        $c{$1} = $2;
        $c{"$1/rejected"} = $3;
    }
    return \%c;
}

# INFO errorstats: error code => count.
sub errorstats {
    my ($port) = @_;
    my %e;
    for (split /\r?\n/, info_text($port, 'errorstats')) {
        $e{$1} = $2 if /^errorstat_(\S+?):count=(\d+)/;
    }
    return \%e;
}

sub resetstat { redis_cmd($_->{port}, 'CONFIG', 'RESETSTAT') for @_ }

# Calls of $cmd on each server of @servers, as "addr=n" (for diag).
sub calls_of {
    my ($cmd, @servers) = @_;
    return join(', ', map { "$_->{port}=" . (cmdstats($_->{port})->{$cmd} // 0) } @servers);
}

# Waits until replica $q has everything primary $p has written so far.
sub wait_synced {
    my ($p, $q, $timeout) = @_;
    my $off = info_field($p->{port}, 'replication', 'master_repl_offset');
    $off = 0 unless $off =~ /^\d+$/;
    return wait_for(sub {
        my $text = info_text($q->{port}, 'replication');
        my ($link) = $text =~ /^master_link_status:(\S+)/m;
        my ($have) = $text =~ /^slave_repl_offset:(\d+)/m;
        return ($link // '') eq 'up' && defined $have && $have >= $off;
    }, $timeout // 10);
}

for my $g (0 .. 1) {
    wait_synced($P[$g], $Q[$g], 15)
        or die "group " . ($g + 1) . "'s replica did not connect to its primary\n";
}

# --- cordis ----------------------------------------------------------------------

# The groups as text (write_conf's groups option knows no replicas);
# $r{g} overrides group g's replicas.
sub groups_text {
    my (%r) = @_;
    my $text = "groups = (\n";
    for my $g (1 .. 2) {
        my @rep = @{ $r{$g} // [ $QA[$g - 1] ] };
        $text .= "  { id = $g; primary = \"$PA[$g - 1]\"; replicas = [ "
               . join(', ', map { "\"$_\"" } @rep) . " ]; }" . ($g == 1 ? ',' : '') . "\n";
    }
    return $text . ");\n";
}

my %copt = (slots => [ [ '0-511', 1 ], [ '512-1023', 2 ] ], proxy => { workers => 2 });
my $conf = write_conf_in('main', %copt, extra => groups_text());
$copt{port} = $conf->{port};
$copt{admin_port} = $conf->{admin_port};
my $cordis = start_cordis($conf);
my $CP = $conf->{port};

sub stats { return admin_get($conf, '/api/proxy/stats')->{json} // {} }
sub model { return admin_get($conf, '/api/proxy/model')->{json} // {} }
sub metrics { return admin_get($conf, '/metrics')->{content} // '' }
sub cordis_log { return read_file($conf->{log}) }

# The backends entry of an address in /api/proxy/stats.
sub backend_of {
    my ($addr, $st) = @_;
    $st //= stats();
    my ($b) = grep { ($_->{addr} // '') eq $addr } @{ $st->{backends} // [] };
    return $b // {};
}

# Rewrites the file (backend options, replicas) and reloads; true when the
# reload was applied. The workers take it with their control message.
sub reload_with {
    my ($backend, %replicas) = @_;
    write_conf_in('main', %copt, backend => $backend, extra => groups_text(%replicas));
    my $before = model()->{reload}{ok} // 0;
    kill 'HUP', $cordis->{pid};
    my $ok = wait_for(sub { (model()->{reload}{ok} // 0) > $before }, 10);
    sleep 0.3;
    return $ok && (model()->{reload}{last} // '') =~ /^ok/;
}

# One connection to cordis; requests go pipelined.
my $c = resp_connect($CP);
setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);

# Sends every command ([args...]) at once, returns the replies in order.
sub pipeline {
    my ($s, @cmds) = @_;
    print $s join('', map { resp_encode(@$_) } @cmds);
    return map { resp_read($s) } @cmds;
}

# Keys of each group, and what they hold (written through cordis).
my @K1 = map { key_in_group('rr:k', 1, $_) } 0 .. 99;
my @K2 = map { key_in_group('rr:k', 2, $_) } 0 .. 99;
my %VAL;

# True when every reply of GETs of @keys is the value in %VAL.
sub gets_ok {
    my ($s, @keys) = @_;
    my @r = pipeline($s, map { [ 'GET', $_ ] } @keys);
    my @bad = grep { my $v = $r[$_]; ref $v || !defined $v || $v ne $VAL{ $keys[$_] } } 0 .. $#keys;
    diag(scalar(@bad) . ' wrong GET replies, first: ' . $keys[ $bad[0] ] . ' -> ' . show($r[ $bad[0] ]))
        if @bad;
    return !@bad;
}

# --- 1. replica_reads off (the default) --------------------------------------------

{
    resetstat(@P, @Q);
    my @sets = map { [ 'SET', $_, "one:$_" ] } @K1, @K2;
    $VAL{ $_->[1] } = $_->[2] for @sets;
    my @r = pipeline($c, @sets);
    my $ok = !grep { ref $_ || ($_ // '') ne 'OK' } @r;
    wait_synced($P[$_], $Q[$_]) for 0 .. 1;
    ok($ok && gets_ok($c, @K1, @K2), 'off: 200 SETs and 200 GETs through cordis answer right');
    my @qs = map { cmdstats($_->{port}) } @Q;
    my @ps = map { cmdstats($_->{port}) } @P;
    ok(!defined $qs[0]{get} && !defined $qs[1]{get}, 'off: the replicas ran no GET')
        or diag('replicas: ' . calls_of('get', @Q));
    ok(($ps[0]{get} // 0) == 100 && ($ps[1]{get} // 0) == 100
       && ($ps[0]{set} // 0) == 100 && ($ps[1]{set} // 0) == 100,
       'off: the primaries ran the 200 GETs and 200 SETs (100 each)')
        or diag('get ' . calls_of('get', @P) . '; set ' . calls_of('set', @P));
    my $st = stats();
    my %role = map { ($_->{addr} // '') => ($_->{role} // '') . '/' . ($_->{group} // '') }
               @{ $st->{backends} // [] };
    is_deeply(\%role, { $PA[0] => 'primary/1', $QA[0] => 'replica/1',
                        $PA[1] => 'primary/2', $QA[1] => 'replica/2' },
              'stats.backends: each primary and replica with its role and group')
        or diag(show($st->{backends}));
}

# --- 2. replica_reads on -----------------------------------------------------------

my ($h1, $l1, $t1) = (key_in_group('rr:hash', 1), key_in_group('rr:list', 1), key_in_group('rr:ttl', 1));
my ($h2, $l2, $t2) = (key_in_group('rr:hash', 2), key_in_group('rr:list', 2), key_in_group('rr:ttl', 2));
{
    ok(reload_with({ replica_reads => 'true' }), 'SIGHUP with backend.replica_reads = true: reloaded');

    # New values, written through cordis, read once the replicas have them.
    my @sets = map { [ 'SET', $_, "two:$_" ] } @K1, @K2;
    $VAL{ $_->[1] } = $_->[2] for @sets;
    my @r = pipeline($c, @sets,
                     [ 'HSET', $h1, 'f', 'hv1' ], [ 'HSET', $h2, 'f', 'hv2' ],
                     [ 'RPUSH', $l1, 'a', 'b', 'c' ], [ 'RPUSH', $l2, 'x', 'y' ],
                     [ 'SET', $t1, 'x', 'EX', 1000 ], [ 'SET', $t2, 'y', 'EX', 1000 ]);
    my $writes_ok = 200 == grep { !ref $_ && ($_ // '') eq 'OK' } @r[0 .. 199];
    ok(wait_synced($P[0], $Q[0]) && wait_synced($P[1], $Q[1]), 'the replicas caught up (replication offsets)');

    resetstat(@P, @Q);
    ok($writes_ok && gets_ok($c, @K1, @K2), 'on: 200 GETs answer the values written');
    my @qs = map { cmdstats($_->{port}) } @Q;
    my @ps = map { cmdstats($_->{port}) } @P;
    ok(($qs[0]{get} // 0) == 100 && ($qs[1]{get} // 0) == 100 && !defined $ps[0]{get}
       && !defined $ps[1]{get}, 'on: the GETs ran on the replicas (100 each), none on the primaries')
        or diag('replicas ' . calls_of('get', @Q) . '; primaries ' . calls_of('get', @P));

    # Other read-only commands, one key each.
    resetstat(@P, @Q);
    my @reads = ([ 'HGET', $h1, 'f' ], [ 'HGET', $h2, 'f' ], [ 'LRANGE', $l1, 0, -1 ],
                 [ 'LRANGE', $l2, 0, -1 ], [ 'EXISTS', $K1[0] ], [ 'EXISTS', $K2[0] ],
                 [ 'TTL', $t1 ], [ 'TTL', $t2 ], [ 'STRLEN', $K1[1] ], [ 'STRLEN', $K2[1] ]);
    @r = pipeline($c, @reads);
    my $want = [ 'hv1', 'hv2', [ 'a', 'b', 'c' ], [ 'x', 'y' ], 1, 1, 'ttl', 'ttl',
                 length($VAL{ $K1[1] }), length($VAL{ $K2[1] }) ];
    $r[$_] = ($r[$_] =~ /^\d+$/ && $r[$_] > 900 && $r[$_] <= 1000 ? 'ttl' : $r[$_]) for 6, 7;
    @qs = map { cmdstats($_->{port}) } @Q;
    @ps = map { cmdstats($_->{port}) } @P;
    my @where = map {
        my $cmd = $_;
        "$cmd: replicas " . join('+', map { $_->{$cmd} // 0 } @qs) . ', primaries '
            . join('+', map { $_->{$cmd} // 0 } @ps)
    } qw(hget lrange exists ttl strlen);
    my @wrong = grep { !/replicas 1\+1, primaries 0\+0$/ } @where;
    ok(!@wrong && eq_array(\@r, $want),
       'on: HGET, LRANGE, EXISTS, TTL, STRLEN ran on the replicas and answered right')
        or diag(join('; ', @where) . "\nreplies: " . show(\@r));

    # MGET: keys of one group (different slots), then keys of both groups.
    resetstat(@P, @Q);
    my @one = @K1[ 0 .. 4 ];
    my @both = (@K1[ 5 .. 7 ], @K2[ 5 .. 7 ]);
    my ($m1) = pipeline($c, [ 'MGET', @one ]);
    my @st1 = (cmdstats($Q[0]{port})->{mget} // 0, cmdstats($P[0]{port})->{mget} // 0);
    resetstat(@P, @Q);
    my ($m2) = pipeline($c, [ 'MGET', @both ]);
    my @st2 = map { cmdstats($_->{port})->{mget} // 0 } $Q[0], $Q[1], $P[0], $P[1];
    diag("MGET of 5 keys of group 1 (different slots): ran on the replica $st1[0] time(s), "
         . "on the primary $st1[1]");
    diag("MGET of 3+3 keys of both groups (split by group): replicas $st2[0]+$st2[1], "
         . "primaries $st2[2]+$st2[3]");
    ok(eq_array($m1, [ map { $VAL{$_} } @one ]) && eq_array($m2, [ map { $VAL{$_} } @both ]),
       'on: MGET in one group and across groups answers the values written')
        or diag(show([ $m1, $m2 ]));

    # Writes, scripts, transactions, blocking commands: the primaries.
    resetstat(@P, @Q);
    my ($i1, $i2) = (key_in_group('rr:incr', 1), key_in_group('rr:incr', 2));
    my ($d1, $d2) = (key_in_group('rr:del', 1), key_in_group('rr:del', 2));
    @r = pipeline($c, [ 'SET', $d1, 'gone' ], [ 'SET', $d2, 'gone' ], [ 'INCR', $i1 ],
                  [ 'INCR', $i2 ], [ 'INCR', $i1 ], [ 'DEL', $d1 ], [ 'DEL', $d2 ]);
    @ps = map { cmdstats($_->{port}) } @P;
    ok(eq_array(\@r, [ 'OK', 'OK', 1, 1, 2, 1, 1 ])
       && ($ps[0]{set} // 0) == 1 && ($ps[1]{set} // 0) == 1 && ($ps[0]{incr} // 0) == 2
       && ($ps[1]{incr} // 0) == 1 && ($ps[0]{del} // 0) == 1 && ($ps[1]{del} // 0) == 1
       && !(grep { $_->{READONLY} } map { errorstats($_->{port}) } @Q),
       'on: SET, INCR, DEL ran on the primaries (no -READONLY from a replica)')
        or diag(show(\@r) . '; set ' . calls_of('set', @P) . '; incr ' . calls_of('incr', @P)
                . '; del ' . calls_of('del', @P));

    resetstat(@P, @Q);
    my $script = "return redis.call('GET', KEYS[1])";
    @r = pipeline($c, [ 'EVAL', $script, 1, $K1[2] ], [ 'EVAL', $script, 1, $K2[2] ]);
    ok(eq_array(\@r, [ $VAL{ $K1[2] }, $VAL{ $K2[2] } ])
       && (cmdstats($P[0]{port})->{eval} // 0) == 1 && (cmdstats($P[1]{port})->{eval} // 0) == 1
       && !(grep { defined $_->{eval} || defined $_->{get} } map { cmdstats($_->{port}) } @Q),
       'on: EVAL (a script reading a key) ran on the primaries')
        or diag(show(\@r) . '; eval: primaries ' . calls_of('eval', @P) . ', replicas '
                . calls_of('eval', @Q));

    resetstat(@P, @Q);
    @r = pipeline($c, [ 'MULTI' ], [ 'GET', $K1[3] ], [ 'EXEC' ]);
    my $p1 = cmdstats($P[0]{port});
    ok(eq_array(\@r, [ 'OK', 'QUEUED', [ $VAL{ $K1[3] } ] ]) && ($p1->{exec} // 0) == 1
       && ($p1->{get} // 0) == 1 && !defined cmdstats($Q[0]{port})->{get},
       'on: MULTI, GET, EXEC ran on the primary')
        or diag(show(\@r) . '; exec ' . calls_of('exec', @P, @Q) . '; get ' . calls_of('get', @P, @Q));

    resetstat(@P, @Q);
    my $bl = key_in_group('rr:blpop', 1);
    @r = pipeline($c, [ 'RPUSH', $bl, 'item' ], [ 'BLPOP', $bl, 1 ]);
    ok(eq_array(\@r, [ 1, [ $bl, 'item' ] ]) && (cmdstats($P[0]{port})->{blpop} // 0) == 1
       && !defined cmdstats($Q[0]{port})->{blpop},
       'on: BLPOP ran on the primary')
        or diag(show(\@r) . '; blpop ' . calls_of('blpop', @P, @Q));

    # Recorded: read-only scripts (the replicas have no script cache of
    # their own) and WAIT.
    resetstat(@P, @Q);
    my ($sha) = pipeline($c, [ 'SCRIPT', 'LOAD', $script ]);
    @r = pipeline($c, [ 'EVAL_RO', $script, 1, $K1[4] ], [ 'EVALSHA_RO', $sha, 1, $K1[4] ],
                  [ 'EVALSHA_RO', $sha, 1, $K2[4] ]);
    diag('EVAL_RO: replicas ' . calls_of('eval_ro', @Q) . ', primaries ' . calls_of('eval_ro', @P)
         . '; EVALSHA_RO: replicas ' . calls_of('evalsha_ro', @Q) . ' (NOSCRIPT '
         . join('+', map { errorstats($_->{port})->{NOSCRIPT} // 0 } @Q) . '), primaries '
         . calls_of('evalsha_ro', @P));
    ok(eq_array(\@r, [ $VAL{ $K1[4] }, $VAL{ $K1[4] }, $VAL{ $K2[4] } ]),
       'on: EVAL_RO and EVALSHA_RO answer the values (no NOSCRIPT reaches the client)')
        or diag(show(\@r));
    my ($wait) = pipeline($c, [ 'WAIT', 1, 1000 ]);
    diag('WAIT 1 1000 through cordis answered ' . show($wait)
         . ' (it runs on a connection of its own, so it waits for nothing written here)');
}

# --- 3. primary_only -----------------------------------------------------------------

{
    ok(reload_with({ replica_reads => 'true', primary_only => 'true' }),
       'SIGHUP with backend.primary_only = true (replica_reads still true): reloaded');
    resetstat(@P, @Q);
    my $right = gets_ok($c, @K1, @K2);
    my @qs = map { cmdstats($_->{port}) } @Q;
    my @ps = map { cmdstats($_->{port}) } @P;
    ok($right && ($ps[0]{get} // 0) == 100 && ($ps[1]{get} // 0) == 100 && !defined $qs[0]{get}
       && !defined $qs[1]{get}, 'primary_only: the GETs ran on the primaries again')
        or diag('replicas ' . calls_of('get', @Q) . '; primaries ' . calls_of('get', @P));

    ok(reload_with({ replica_reads => 'true', primary_only => 'false' }),
       'SIGHUP with backend.primary_only = false: reloaded');
    resetstat(@P, @Q);
    $right = gets_ok($c, @K1, @K2);
    ok($right && (cmdstats($Q[0]{port})->{get} // 0) == 100 && (cmdstats($Q[1]{port})->{get} // 0) == 100
       && !defined cmdstats($P[0]{port})->{get} && !defined cmdstats($P[1]{port})->{get},
       '... and on the replicas again')
        or diag('replicas ' . calls_of('get', @Q) . '; primaries ' . calls_of('get', @P));
}

# --- readers: GET loops in child processes ------------------------------------------


# A child process sending pipelined GETs of @$keys ([key, value, group])
# over and over, checking each reply; stops on TERM. Results in a JSON file:
# requests and bad replies per group, the time of each bad reply.
sub reader_start {
    my ($name, $keys) = @_;
    my $file = tmpdir() . "/reader-$name.json";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{ALRM} = 'DEFAULT';
        $SIG{__DIE__} = 'DEFAULT';
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        my %r = (requests => { 1 => 0, 2 => 0 }, bad => { 1 => 0, 2 => 0 }, bad_times => [],
                 samples => [], lost => 0, rounds => 0);
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$CP", Proto => 'tcp', Timeout => 5);
        if (!$s) {
            $r{lost}++;
            push @{ $r{samples} }, "connect: $!";
        } else {
            setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
            binmode $s;
        }
        my $buf = '';
        my $out = join('', map { resp_encode('GET', $_->[0]) } @$keys);
        while ($s && !$stop) {
            my $w = syswrite($s, $out);
            if (!defined $w || $w != length $out) {
                $r{lost}++;
                push @{ $r{samples} }, "write: $!";
                last;
            }
            $r{rounds}++;
            for my $k (@$keys) {
                my ($st, $v) = CordisTest::_load_read_reply($s, \$buf, 5);
                if ($st ne 'ok') {
                    $r{lost}++;
                    push @{ $r{samples} }, "GET $k->[0]: $st ($v)";
                    $stop = 1;
                    last;
                }
                $r{requests}{ $k->[2] }++;
                next if defined $v && !ref $v && $v eq $k->[1];
                $r{bad}{ $k->[2] }++;
                push @{ $r{bad_times} }, [ time, $k->[2] ] if @{ $r{bad_times} } < 20000;
                push @{ $r{samples} }, sprintf('%.3f GET %s (group %d): %s, want %s', time, $k->[0],
                                               $k->[2], defined $v ? show($v) : 'nil', $k->[1])
                    if @{ $r{samples} } < 8;
            }
            sleep 0.001;
        }
        open my $fh, '>', "$file.tmp" or POSIX::_exit(1);
        print $fh JSON::PP->new->encode(\%r);
        close $fh;
        rename "$file.tmp", $file;
        POSIX::_exit(0);
    }
    kill_child_at_exit($pid);
    return { pid => $pid, file => $file };
}

sub reader_stop {
    my ($h) = @_;
    kill 'TERM', $h->{pid};
    my $end = time + 10;
    my $got = 0;
    while (time < $end) {
        $got = waitpid($h->{pid}, WNOHANG);
        last if $got == $h->{pid} || $got == -1;
        sleep 0.02;
    }
    if ($got != $h->{pid} && $got != -1) {
        kill 'KILL', $h->{pid};
        waitpid($h->{pid}, 0);
    }
    forget_child($h->{pid});
    return eval { $json->decode(read_file($h->{file})) }
        // { requests => {}, bad => {}, bad_times => [], lost => 1, rounds => 0,
             samples => [ 'the reader did not report' ] };
}

# --- 4. a replica killed, then restarted ------------------------------------------------

{
    my @keys = ((map { [ $_, $VAL{$_}, 1 ] } @K1[ 0 .. 19 ]), (map { [ $_, $VAL{$_}, 2 ] } @K2[ 0 .. 19 ]));
    my @readers = map { reader_start("kill$_", \@keys) } 1 .. 2;   # likely one per worker
    sleep 0.5;
    my $t_kill = time;
    stop_redis($Q[0], 'KILL');
    my $down = wait_for(sub {
        my $b = backend_of($QA[0]);
        return ($b->{state} // '') eq 'down' && ($b->{role} // '') eq 'replica' && !$b->{up};
    }, 5);
    ok($down, sprintf('killed: stats.backends shows %s role "replica", state "down" (%.1f s after the kill)',
                      $QA[0], time - $t_kill))
        or diag(show(backend_of($QA[0])));
    sleep 0.3;
    diag('the killed replica in stats.backends 0.3 s later (reads fell back to the primary): '
         . show(backend_of($QA[0])));
    my $m = metrics();
    my $lbl = "addr=\"$QA[0]\",group=\"1\",role=\"replica\"";
    ok($m =~ /^cordis_backend_up\{\Q$lbl\E\} 0$/m && $m =~ /^cordis_backend_state\{\Q$lbl\E,state="down"\} 1$/m
       && $m =~ /^cordis_backend_state\{\Q$lbl\E,state="up"\} 0$/m,
       'killed: /metrics has cordis_backend_up{...,role="replica"} 0 and cordis_backend_state{...,state="down"} 1')
        or diag(join("\n", grep { /\Q$QA[0]\E/ } split /\n/, $m));
    resetstat($P[0]);
    my $right = gets_ok($c, @K1[ 20 .. 59 ]);
    sleep 0.3;
    my $on_primary = cmdstats($P[0]{port})->{get} // 0;
    ok($right && $on_primary >= 40,
       "killed: reads of group 1 run on its primary ($on_primary GETs in 0.3 s) and answer right");

    # Restarted empty (its RDB from the first sync removed), its primary
    # waiting 2 s before the full sync: meanwhile it answers from no data.
    redis_cmd($P[0]{port}, 'CONFIG', 'SET', 'repl-diskless-sync-delay', 2);
    unlink glob("$Q[0]{dir}/*.rdb");
    my $log_at = length cordis_log();
    my $t_restart = time;
    $Q[0] = start_redis(port => $Q[0]{port}, args => [ '--replicaof', '127.0.0.1', $P[0]{port} ]);
    my $synced = wait_synced($P[0], $Q[0], 10);
    my $t_synced = time;
    # cordis sees it follow its primary (ROLE, once a second), then reads
    # come back: its GET count grows.
    my $back = $synced && wait_for(sub {
        return 0 unless (backend_of($QA[0])->{state} // '') eq 'up';
        resetstat($Q[0]);
        gets_ok($c, @K1[ 20 .. 59 ]);
        return (cmdstats($Q[0]{port})->{get} // 0) > 0;
    }, 6);
    ok($back, sprintf('restarted: reads come back to the replica (synced %.1f s after the restart, '
                      . 'state "up", its GET count grows)', $t_synced - $t_restart))
        or diag(show(backend_of($QA[0])) . '; replica gets ' . calls_of('get', $Q[0]));
    my $logged = substr(cordis_log(), $log_at);
    diag('cordis log after the restart: '
         . join(' | ', map { /(replica \S+: [^;]*)/ ? $1 : () }
                       grep { /replica \Q$QA[0]\E/ } split /\n/, $logged));
    sleep 0.3;
    my @res = map { reader_stop($_) } @readers;
    redis_cmd($P[0]{port}, 'CONFIG', 'SET', 'repl-diskless-sync-delay', 0);

    my $req1 = 0;
    my $req2 = 0;
    $req1 += $_->{requests}{1} // 0 for @res;
    $req2 += $_->{requests}{2} // 0 for @res;
    my @bad_down = grep { $_->[0] < $t_restart } map { @{ $_->{bad_times} } } @res;
    my @bad_back = grep { $_->[0] >= $t_restart } map { @{ $_->{bad_times} } } @res;
    my $lost = 0;
    $lost += $_->{lost} for @res;
    my $samples = join("\n", map { @{ $_->{samples} } } @res);
    diag(sprintf('readers: %d GETs of group 1, %d of group 2; kill at +%.3f, restart at +%.3f, '
                 . 'synced at +%.3f (seconds from the readers\' start)', $req1, $req2, 0.5,
                 0.5 + $t_restart - $t_kill, 0.5 + $t_synced - $t_kill));
    ok($req1 > 0 && $req2 > 0 && !$lost && !@bad_down,
       'killed: the GET loop saw only right values, no error, while the replica was killed and down')
        or diag(scalar(@bad_down) . " bad replies, lost $lost\n$samples");
    if (@bad_back) {
        diag(sprintf('%d bad replies after the restart, from +%.3f to +%.3f s after it (group %s)',
                     scalar(@bad_back), $bad_back[0][0] - $t_restart, $bad_back[-1][0] - $t_restart,
                     join(',', sort keys %{ { map { $_->[1] => 1 } @bad_back } })));
    }
    ok(!@bad_back && !$lost,
       'restarted: the GET loop saw only right values while the replica came back unsynced')
        or diag($samples);
}

# --- 5. a replica whose link to its primary is down ---------------------------------------

{
    my $log_at = length cordis_log();
    my $t0 = time;
    redis_cmd($Q[1]{port}, 'REPLICAOF', '127.0.0.1', $dead_port);
    # Each worker asks ROLE on its own: both must have seen it.
    my $line = wait_for(sub { 2 <= (() = substr(cordis_log(), $log_at) =~ /replica \Q$QA[1]\E: its link to the primary is down/g) }, 5);
    ok($line, sprintf('link down: cordis logs "replica %s: its link to the primary is down" (both workers, %.1f s)',
                      $QA[1], time - $t0));
    my $stale = wait_for(sub { (backend_of($QA[1])->{state} // '') eq 'stale' }, 3);
    my $lbl = "addr=\"$QA[1]\",group=\"2\",role=\"replica\"";
    ok($stale && metrics() =~ /^cordis_backend_state\{\Q$lbl\E,state="stale"\} 1$/m,
       'link down: stats.backends state "stale", /metrics cordis_backend_state{...,state="stale"} 1')
        or diag(show(backend_of($QA[1])));
    resetstat($P[1], $Q[1]);
    my $right = gets_ok($c, @K2);
    ok($right && (cmdstats($P[1]{port})->{get} // 0) == 100 && !defined cmdstats($Q[1]{port})->{get},
       'link down: the reads of group 2 run on its primary')
        or diag('replica ' . calls_of('get', $Q[1]) . '; primary ' . calls_of('get', $P[1]));

    $log_at = length cordis_log();
    redis_cmd($Q[1]{port}, 'REPLICAOF', '127.0.0.1', $P[1]{port});
    $line = wait_for(sub { 2 <= (() = substr(cordis_log(), $log_at) =~ /replica \Q$QA[1]\E: following its primary again/g) }, 5);
    ok($line && wait_synced($P[1], $Q[1]), 'link back: cordis logs "following its primary again" (both workers)');
    resetstat($P[1], $Q[1]);
    $right = gets_ok($c, @K2);
    ok($right && (cmdstats($Q[1]{port})->{get} // 0) == 100 && !defined cmdstats($P[1]{port})->{get}
       && (backend_of($QA[1])->{state} // '') eq 'up',
       'link back: state "up", the reads of group 2 run on its replica again')
        or diag('replica ' . calls_of('get', $Q[1]) . '; primary ' . calls_of('get', $P[1]));
}

# --- 6. -MASTERDOWN before ROLE notices ------------------------------------------------------

{
    redis_cmd($Q[0]{port}, 'CONFIG', 'SET', 'replica-serve-stale-data', 'no');
    resetstat($P[0], $Q[0]);
    my @s = map { my $x = resp_connect($CP); setsockopt($x, IPPROTO_TCP, TCP_NODELAY, 1); $x } 1 .. 4;
    my $log_at = length cordis_log();
    my $t0 = time;
    redis_cmd($Q[0]{port}, 'REPLICAOF', '127.0.0.1', $dead_port);
    my ($sent, $bad, $masterdown, $sample) = (0, 0, 0, undef);
    while (time - $t0 < 1.5) {
        for my $s (@s) {
            print $s join('', map { resp_encode('GET', $_) } @K1[ 0 .. 49 ]);
        }
        for my $s (@s) {
            for my $k (@K1[ 0 .. 49 ]) {
                my $v = resp_read($s);
                $sent++;
                next if defined $v && !ref $v && $v eq $VAL{$k};
                $bad++;
                $masterdown++ if ref $v && ($v->{err} // '') =~ /^MASTERDOWN/;
                $sample //= "GET $k: " . (defined $v ? show($v) : 'nil');
            }
        }
    }
    my $e = errorstats($Q[0]{port});
    my $cs = cmdstats($Q[0]{port});
    my $stale = wait_for(sub { (backend_of($QA[0])->{state} // '') eq 'stale' }, 3);
    diag(sprintf('MASTERDOWN window: %d GETs over 1.5 s after REPLICAOF to a dead port; the replica '
                 . 'answered -MASTERDOWN %d times (GET rejected %d), ran %d GETs; the primary ran %d; '
                 . 'cordis logged the link down %s',
                 $sent, $e->{MASTERDOWN} // 0, $cs->{'get/rejected'} // 0, $cs->{get} // 0,
                 cmdstats($P[0]{port})->{get} // 0,
                 substr(cordis_log(), $log_at) =~ /replica \Q$QA[0]\E: its link/ ? 'yes' : 'no'));
    ok(!$bad, "MASTERDOWN: no client saw -MASTERDOWN (or any wrong reply) in $sent GETs")
        or diag("$bad bad replies ($masterdown -MASTERDOWN), first $sample");
    ok($stale, 'MASTERDOWN: the replica ends up "stale" (ROLE)') or diag(show(backend_of($QA[0])));

    $log_at = length cordis_log();
    redis_cmd($Q[0]{port}, 'CONFIG', 'SET', 'replica-serve-stale-data', 'yes');
    redis_cmd($Q[0]{port}, 'REPLICAOF', '127.0.0.1', $P[0]{port});
    ok(wait_synced($P[0], $Q[0])
       && wait_for(sub { 2 <= (() = substr(cordis_log(), $log_at) =~ /replica \Q$QA[0]\E: following its primary again/g) }, 5),
       'MASTERDOWN: the link back, cordis follows the replica again');
    close $_ for @s;
}

# --- 7. two replicas in group 1 -----------------------------------------------------------------

my $R;
{
    $R = start_redis(args => [ '--replicaof', '127.0.0.1', $P[0]{port} ]);
    my $RA = "127.0.0.1:$R->{port}";
    ok(wait_synced($P[0], $R, 10), "a second replica of group 1 ($RA) synced");
    ok(reload_with({ replica_reads => 'true' }, 1 => [ $QA[0], $RA ]),
       'SIGHUP with group 1\'s replicas [ ' . "$QA[0], $RA ]: reloaded");
    my $b = backend_of($RA);
    ok(($b->{role} // '') eq 'replica' && ($b->{group} // 0) == 1,
       'stats.backends lists the second replica, role "replica", group 1') or diag(show($b));
    sleep 1.2;    # its first ROLE
    resetstat($P[0], $Q[0], $R);
    my $right = 1;
    $right &&= gets_ok($c, @K1) for 1 .. 4;
    # and from a second connection (likely the other worker)
    my $c2 = resp_connect($CP);
    $right &&= gets_ok($c2, @K1) for 1 .. 2;
    close $c2;
    my ($nq, $nr, $np) = map { cmdstats($_->{port})->{get} // 0 } $Q[0], $R, $P[0];
    diag("600 GETs of group 1: replica $QA[0] $nq, replica $RA $nr, primary $np; all three are on "
         . "127.0.0.1, so both replicas are \"near\" (same-host preference: one tier)");
    ok($right && $nq + $nr == 600 && $np == 0 && $nq >= 150 && $nr >= 150,
       'two replicas: the GETs spread over both (each at least a quarter), none on the primary');
}

# --- the end ---------------------------------------------------------------------------------

close $c;
is(stop_cordis($cordis), 0, 'SIGQUIT: cordis stops cleanly');
log_is_clean_but($cordis);
{
    # Warnings and errors: only the expected ones (the replica killed and
    # answering -MASTERDOWN here, replicas cut off from their primary).
    my @odd = grep {
        /\[(warn|error)\]/
        && !/backend \Q$QA[0]\E \(db \d+\) unavailable/
        && !/replica \Q$QA[0]\E: its link to the primary is down/
        && !/replica \Q$QA[1]\E: its link to the primary is down/
    } split /\n/, cordis_log();
    ok(!@odd, 'no unexpected warning or error in the log') or diag(join("\n", @odd[0 .. ($#odd < 9 ? $#odd : 9)]));
}
for my $r (@P, @Q, $R) {
    stop_redis($r) if $r && $r->{pid};
}
diag(sprintf('t/75-replica-reads.t ran %.1f s', time - $t_begin));
