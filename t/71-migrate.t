#!/usr/bin/perl
# Slot migration through cordis, as Codis's dashboard drives it, against a
# stand-in for codis-server (codis-server is not packaged by Debian):
# CodisServerStandIn below is a small RESP server, one process started and
# stopped here by pid, in front of a real redis-server A (the source group).
# It forwards every ordinary command to A and implements
#
#   SLOTSMGRTTAGONE host port timeout key    moves key and its {tag} group
#                                            from A to host:port (DUMP, PTTL,
#                                            RESTORE ... REPLACE, DEL): :moved
#   SLOTSMGRT-EXEC-WRAPPER key cmd args...   [1, _] when key is being moved
#                                            (writes), [2, A's reply] when A
#                                            has key (it runs cmd there),
#                                            else [0, _]
#   SLOTSMGRTTAGSLOT host port timeout slot  the dashboard's executor: moves
#                                            one key of slot (and its tag
#                                            group): [moved, keys left]
#
# and, for the test: STANDIN-HOLD host port key ms (key's tag group is
# "being moved" for ms, then moved), STANDIN-SET hold_ms|sleep_ms N (the
# executor holds what it picks; replies to ordinary commands on a key
# containing "standin-sleep" are held back N ms), STANDIN-STATS,
# STANDIN-DIRECT slot (ordinary keyed commands seen for slot). Keys named
# standin-err* / standin-bad* / standin-badcode* get an error / a malformed
# answer from SLOTSMGRTTAGONE and SLOTSMGRT-EXEC-WRAPPER.
#
# cordis: group 1 = the stand-in, group 2 = a second real redis-server B;
# slots 0-511 -> 1, 512-1023 -> 2; two workers. For both forward methods,
# sync (0) and semi-async (1), on fresh slots each time:
#   1. a locked slot: its requests wait until unlocked, then answer right
#      (the key moved to B); semi-async: a key being moved is retried until
#      it has moved (code 1); one client's requests on one key keep their
#      order (a read or a later write never overtakes a retried write)
#   2. migration under load: clients pipeline INCR on counters and SET/GET
#      through cordis while the test runs prepared -> migrating -> executor
#      steps -> finished for three slots; no INCR lost or doubled, every key
#      on B, none left on A, nothing bypassed the protocol
#   3. MGET/MSET/DEL/EXISTS over migrating and plain slots
#   4. errors from the stand-in: -ERR handle request, bad slotsmgrt resp /
#      bad slotsmgrt-exec-wrapper resp
#   5. the route barrier: fillslots answers only after a reply in flight to
#      the old group (held 500 ms by the stand-in); at once otherwise
use strict;
use warnings;

# ---------------------------------------------------------------------------
# The codis-server stand-in
# ---------------------------------------------------------------------------
package CodisServerStandIn;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);

# Commands SLOTSMGRT-EXEC-WRAPPER runs on A even while the key is being moved.
my %READ = map { $_ => 1 } qw(GET MGET EXISTS TTL PTTL TYPE STRLEN GETRANGE HGET HGETALL
                              HLEN LRANGE LLEN SMEMBERS SCARD ZRANGE ZCARD DUMP);
# Ordinary commands counted per slot of their first key (STANDIN-DIRECT).
my %KEYED = map { $_ => 1 } qw(GET SET INCR MGET MSET DEL EXISTS TTL PTTL TYPE STRLEN
                               APPEND DECR INCRBY SETNX GETSET UNLINK TOUCH);

sub hashtag {
    my ($key) = @_;
    my $open = index($key, '{');
    if ($open >= 0) {
        my $close = index($key, '}', $open + 1);
        return substr($key, $open + 1, $close - $open - 1) if $close >= 0;
    }
    return $key;
}

sub slot_of { CordisTest::codis_slot($_[0]) }

sub enc { my $o = '*' . scalar(@_) . "\r\n"; $o .= '$' . length($_) . "\r\n$_\r\n" for @_; $o }

# One reply at $pos of $$buf: (value, end) or () when incomplete.
sub parse {
    my ($buf, $pos) = @_;
    my $eol = index($$buf, "\r\n", $pos);
    return if $eol < 0;
    my $t = substr($$buf, $pos, 1);
    my $rest = substr($$buf, $pos + 1, $eol - $pos - 1);
    my $next = $eol + 2;
    return ($rest, $next) if $t eq '+';
    return ({ err => $rest }, $next) if $t eq '-';
    return (0 + $rest, $next) if $t eq ':';
    if ($t eq '$') {
        return (undef, $next) if $rest < 0;
        return if length($$buf) < $next + $rest + 2;
        return (substr($$buf, $next, $rest), $next + $rest + 2);
    }
    if ($t eq '*') {
        return (undef, $next) if $rest < 0;
        my ($p, @a) = ($next);
        for (1 .. $rest) {
            my @r = parse($buf, $p);
            return unless @r;
            push @a, $r[0];
            $p = $r[1];
        }
        return (\@a, $p);
    }
    die "stand-in: bad reply from upstream: " . substr($$buf, $pos, 40) . "\n";
}

# A blocking connection to a real redis-server: { s, buf }.
sub upstream {
    my ($addr) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $addr, Proto => 'tcp', Timeout => 5)
        or die "stand-in: connect $addr: $!\n";
    binmode $s;
    return { s => $s, buf => '' };
}

# Sends one command upstream; returns (raw reply bytes, value).
sub call {
    my ($u, @args) = @_;
    my $out = enc(@args);
    my $off = 0;
    while ($off < length $out) {
        my $n = syswrite($u->{s}, $out, length($out) - $off, $off);
        die "stand-in: upstream write: $!\n" unless defined $n;
        $off += $n;
    }
    while (1) {
        my @r = parse(\$u->{buf}, 0);
        if (@r) {
            my $raw = substr($u->{buf}, 0, $r[1], '');
            return ($raw, $r[0]);
        }
        my $n = sysread($u->{s}, $u->{buf}, 65536, length $u->{buf});
        die "stand-in: upstream closed\n" unless $n;
    }
}

my (%o, %st, %direct, %held, @timers, %targets, $own);

sub target {
    my ($host, $port) = @_;
    return $targets{"$host:$port"} //= upstream("$host:$port");
}

# The keys of key's {tag} group on A (just key without a tag).
sub tag_keys {
    my ($u, $key) = @_;
    my $tag = hashtag($key);
    return ($key) if $tag eq $key;
    (my $pat = $tag) =~ s/([*?\[\]\\])/\\$1/g;
    my (undef, $keys) = call($u, 'KEYS', "*{$pat}*");
    my %all = map { $_ => 1 } grep { hashtag($_) eq $tag } @{ $keys || [] };
    $all{$key} = 1;
    return sort keys %all;
}

# Moves @keys from A (over $u) to host:port; returns how many were there.
sub move_keys {
    my ($u, $host, $port, @keys) = @_;
    my $t = target($host, $port);
    my $moved = 0;
    for my $k (@keys) {
        delete $held{$k};
        my (undef, $dump) = call($u, 'DUMP', $k);
        next unless defined $dump;
        my (undef, $ttl) = call($u, 'PTTL', $k);
        $ttl = 0 if $ttl < 0;
        my (undef, $ok) = call($t, 'RESTORE', $k, $ttl, $dump, 'REPLACE');
        die "stand-in: RESTORE $k on $host:$port: " . ($ok->{err} // $ok) . "\n"
            unless defined $ok && !ref $ok && $ok eq 'OK';
        call($u, 'DEL', $k);
        $moved++;
        $st{moved}++;
    }
    return $moved;
}

# A's keys in slot (after KEYS *).
sub slot_keys {
    my ($u, $slot) = @_;
    my (undef, $keys) = call($u, 'KEYS', '*');
    return grep { slot_of($_) == $slot } @{ $keys || [] };
}

sub hold {
    my ($host, $port, $ms, @keys) = @_;
    $held{$_} = 1 for @keys;
    push @timers, [ time + $ms / 1000, $host, $port, @keys ];
}

sub run_timers {
    my $now = time;
    my @due = grep { $_->[0] <= $now } @timers;
    return unless @due;
    @timers = grep { $_->[0] > $now } @timers;
    for my $t (@due) {
        my ($at, $host, $port, @keys) = @$t;
        my @still = grep { $held{$_} } @keys;   # not moved meanwhile by TAGONE
        move_keys($own, $host, $port, @still) if @still;
    }
}

# The reply to one request: (bytes, delay in seconds).
sub handle {
    my ($c, $args) = @_;
    my $cmd = uc($args->[0] // '');
    if ($cmd eq 'SLOTSMGRTTAGONE') {
        my ($host, $port, undef, $key) = @$args[1 .. 4];
        $st{tagone}++;
        return ("-ERR standin refuses $key\r\n", 0) if $key =~ /standin-err/;
        return ("+OK\r\n", 0) if $key =~ /standin-bad/;
        return (':' . move_keys($c->{up}, $host, $port, tag_keys($c->{up}, $key)) . "\r\n", 0);
    }
    if ($cmd eq 'SLOTSMGRT-EXEC-WRAPPER') {
        my ($key, @req) = @$args[1 .. $#$args];
        $st{wrapper}++;
        return ("-ERR standin refuses $key\r\n", 0) if $key =~ /standin-err/;
        return ("*2\r\n:7\r\n+what\r\n", 0) if $key =~ /standin-badcode/;
        return ("*3\r\n:2\r\n+OK\r\n+OK\r\n", 0) if $key =~ /standin-bad/;
        # As codis-server: not there -> 0; a write while being moved -> 1;
        # else it runs (reads run even while the key is being moved).
        my (undef, $exists) = call($c->{up}, 'EXISTS', $key);
        if ($exists && $held{$key} && !$READ{ uc $req[0] }) {
            $st{wrapper_retry}++;
            return ("*2\r\n:1\r\n\$11\r\nbeing moved\r\n", 0);
        }
        if ($exists) {
            $st{wrapper_ran}++;
            my ($raw) = call($c->{up}, @req);
            return ("*2\r\n:2\r\n$raw", 0);
        }
        $st{wrapper_forward}++;
        return ("*2\r\n:0\r\n\$8\r\nnot here\r\n", 0);
    }
    if ($cmd eq 'SLOTSMGRTTAGSLOT') {
        my ($host, $port, undef, $slot) = @$args[1 .. 4];
        $st{tagslot}++;
        my @keys = slot_keys($c->{up}, $slot);
        my @free = grep { !$held{$_} } @keys;
        my $moved = 0;
        if (@free) {
            my @group = tag_keys($c->{up}, $free[int rand @free]);
            if ($o{hold_ms}) {
                hold($host, $port, $o{hold_ms}, @group);
            } else {
                $moved = move_keys($c->{up}, $host, $port, @group);
            }
        }
        my $left = () = slot_keys($c->{up}, $slot);
        return ("*2\r\n:$moved\r\n:$left\r\n", 0);
    }
    if ($cmd eq 'STANDIN-HOLD') {
        my ($host, $port, $key, $ms) = @$args[1 .. 4];
        hold($host, $port, $ms, tag_keys($c->{up}, $key));
        return ("+OK\r\n", 0);
    }
    if ($cmd eq 'STANDIN-SET') {
        $o{ $args->[1] } = $args->[2];
        return ("+OK\r\n", 0);
    }
    if ($cmd eq 'STANDIN-STATS') {
        my $text = join ' ', map { "$_=" . ($st{$_} // 0) }
            qw(tagone wrapper wrapper_retry wrapper_ran wrapper_forward tagslot moved);
        return ('$' . length($text) . "\r\n$text\r\n", 0);
    }
    if ($cmd eq 'STANDIN-DIRECT') {
        return (':' . ($direct{ $args->[1] } // 0) . "\r\n", 0);
    }
    $direct{ slot_of($args->[1]) }++ if $KEYED{$cmd} && @$args > 1;
    my ($raw) = call($c->{up}, @$args);
    my $delay = (grep { /standin-sleep/ } @$args[1 .. $#$args]) ? $o{sleep_ms} / 1000 : 0;
    return ($raw, $delay);
}

sub serve {
    my ($listen) = @_;
    $SIG{TERM} = sub { POSIX::_exit(0) };
    $SIG{PIPE} = 'IGNORE';
    $own = upstream($o{upstream});
    my $sel = IO::Select->new($listen);
    my %cl;
    while (1) {
        run_timers();
        my $now = time;
        my $wait = 0.05;
        for my $c (values %cl) {
            while (@{ $c->{out} } && $c->{out}[0][0] <= $now) {
                my $bytes = shift(@{ $c->{out} })->[1];
                my $off = 0;
                while ($off < length $bytes) {
                    my $n = syswrite($c->{s}, $bytes, length($bytes) - $off, $off);
                    last unless defined $n;
                    $off += $n;
                }
            }
            $wait = $c->{out}[0][0] - $now if @{ $c->{out} } && $c->{out}[0][0] - $now < $wait;
        }
        for my $t (@timers) {
            $wait = $t->[0] - $now if $t->[0] - $now < $wait;
        }
        $wait = 0 if $wait < 0;
        for my $s ($sel->can_read($wait)) {
            if ($s == $listen) {
                my $n = $listen->accept or next;
                binmode $n;
                $sel->add($n);
                $cl{ fileno $n } = { s => $n, in => '', out => [], up => upstream($o{upstream}) };
                next;
            }
            my $c = $cl{ fileno $s };
            my $got = sysread($s, $c->{in}, 65536, length $c->{in});
            if (!$got) {
                $sel->remove($s);
                delete $cl{ fileno $s };
                close $c->{up}{s};
                close $s;
                next;
            }
            for my $req (CordisTest::resp_take_requests(\$c->{in})) {
                my ($bytes, $delay) = eval { handle($c, $req) };
                ($bytes, $delay) = ("-ERR stand-in: $@\r\n" =~ s/\n(?!\z)/ /gr, 0) if $@;
                my $at = time + $delay;
                # Replies go out in order: none before the one held back.
                $at = $c->{out}[-1][0] if @{ $c->{out} } && $c->{out}[-1][0] > $at;
                push @{ $c->{out} }, [ $at, $bytes ];
            }
        }
    }
}

# Starts the stand-in in front of the redis-server at $upstream ("host:port").
# Returns { port, pid }.
sub start {
    my (%opt) = @_;
    %o = (hold_ms => 0, sleep_ms => 500, %opt);
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                       Listen => 128, ReuseAddr => 1)
        or die "stand-in: listen: $!";
    my $port = $listen->sockport;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{__DIE__} = 'DEFAULT';
        $SIG{ALRM} = 'DEFAULT';
        alarm 0;
        eval { serve($listen) };
        print STDERR "stand-in: $@" if $@;
        POSIX::_exit(1);    # never the test's END blocks
    }
    close $listen;
    CordisTest::stop_at_exit($pid);
    my $ok = CordisTest::wait_for(sub {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1) or return 0;
        print $s enc('PING');
        my $line = <$s> // '';
        return $line =~ /^\+PONG/;
    }, 10);
    die "the stand-in did not start" unless $ok;
    return { port => $port, pid => $pid };
}

sub stop {
    my ($h) = @_;
    return unless $h && $h->{pid};
    kill 'TERM', $h->{pid};
    waitpid($h->{pid}, 0);
    delete $h->{pid};
}

# ---------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------
package main;

use IO::Select;
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use CordisTest;

plan tests => 55;
$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(150);
$SIG{PIPE} = 'IGNORE';
my $t_begin = time;

my $A = start_redis();
my $B = start_redis();
my $SI = CodisServerStandIn::start(upstream => "127.0.0.1:$A->{port}");
my $conf = write_conf(groups => [ [ 1, "127.0.0.1:$SI->{port}" ], [ 2, "127.0.0.1:$B->{port}" ] ],
                      slots => [ [ '0-511', 1 ], [ '512-1023', 2 ] ]);
my $c = start_cordis($conf);
my $dA = resp_connect($A->{port});
my $dB = resp_connect($B->{port});
my $dS = resp_connect($SI->{port});

my $JSON = JSON::PP->new->canonical;
my $BPORT = $B->{port};

# --- helpers -------------------------------------------------------------------

sub is_err { ref $_[0] eq 'HASH' && defined $_[0]{err} }
sub show { my ($v) = @_; return defined $v ? (ref $v ? $JSON->encode($v) : $v) : '(nil)' }

sub pipeline {
    my ($s, @cmds) = @_;
    print $s join('', map { resp_encode(@$_) } @cmds);
    return [ map { resp_read($s) } @cmds ];
}

# The first "$prefix<i>" whose Codis slot is $slot.
sub key_in_slot {
    my ($prefix, $slot) = @_;
    for my $i (0 .. 1_000_000) {
        return "$prefix$i" if codis_slot("$prefix$i") == $slot;
    }
    die "no key $prefix* in slot $slot";
}

# Every fillslots answers 200; how long each took is returned.
my @fill_bad;
sub fill {
    my (@objs) = @_;
    my $t0 = time;
    my $r = admin_put($conf, '/api/proxy/fillslots', content => $JSON->encode(\@objs));
    my $dt = time - $t0;
    push @fill_bad, 'fillslots ' . $JSON->encode(\@objs) . ": $r->{status} $r->{content}"
        if $r->{status} != 200;
    return $dt;
}

# The dashboard's three fillslots of one slot move from group 1 to group 2.
sub prepared {
    my ($slot, $m) = @_;
    return fill({ id => $slot, group => 2, migrate_from_group => 1, forward_method => $m,
                  locked => JSON::PP::true });
}
sub migrating {
    my ($slot, $m) = @_;
    return fill({ id => $slot, group => 2, migrate_from_group => 1, forward_method => $m });
}
sub finished { my ($slot) = @_; return fill({ id => $slot, group => 2 }) }

# The dashboard's executor: SLOTSMGRTTAGSLOT on the source until no key is
# left in the slot (a pause between steps). Returns the number of steps.
sub executor {
    my ($slot, $pause) = @_;
    my $steps = 0;
    my $end = time + 20;
    while (time < $end) {
        my $r = resp_cmd($dS, 'SLOTSMGRTTAGSLOT', '127.0.0.1', $BPORT, 30000, $slot);
        die 'SLOTSMGRTTAGSLOT: ' . show($r) . "\n" unless ref $r eq 'ARRAY';
        $steps++;
        return $steps if $r->[1] == 0;
        sleep($pause // 0.005);
    }
    die "slot $slot: the executor did not finish in 20 s\n";
}

sub move_slot {
    my ($slot, $m, $pause) = @_;
    prepared($slot, $m);
    migrating($slot, $m);
    executor($slot, $pause);
    finished($slot);
}

sub stats {
    my %h = map { split /=/ } split ' ', resp_cmd($dS, 'STANDIN-STATS');
    return \%h;
}

# Where a key is: 'A', 'B', 'both' or 'none'.
sub where {
    my ($key) = @_;
    my ($a, $b) = (resp_cmd($dA, 'EXISTS', $key), resp_cmd($dB, 'EXISTS', $key));
    return $a && $b ? 'both' : $a ? 'A' : $b ? 'B' : 'none';
}

sub cordis_conn { resp_connect($conf->{port}) }

# --- load clients ------------------------------------------------------------------

# A client process: pipelines batches of INCR on its own counters (each
# starts at 1000) and SET k v / GET k on its own data keys through cordis,
# checks every reply, and writes what it got to $file when TERMed.
sub load_client {
    my ($id, $ctrs, $data, $file) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    $SIG{__DIE__} = 'DEFAULT';
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    $SIG{ALRM} = sub { die "no reply within 20 s\n" };
    my (%n, %last, @notes);
    my ($errors, $wrong, $batches) = (0, 0, 0);
    $n{$_} = 0 for @$ctrs;
    my $note = sub { push @notes, $_[0] if @notes < 10 };
    eval {
        my $s = cordis_conn();
        my $seq = 0;
        while (!$stop) {
            alarm 20;
            my @cmds = map { [ 'INCR', $ctrs->[ rand @$ctrs ] ] } 1 .. 12;
            for (1 .. 2) {
                my $k = $data->[ rand @$data ];
                push @cmds, [ 'SET', $k, "c$id-" . $seq++ ], [ 'GET', $k ];
            }
            print $s join('', map { resp_encode(@$_) } @cmds);
            for my $cmd (@cmds) {
                my ($op, $k, $v) = @$cmd;
                my $r = resp_read($s);
                if (is_err($r)) {
                    $errors++;
                    $note->("$op $k: -$r->{err}");
                    $last{$k} = undef if $op eq 'SET';
                    next;
                }
                if ($op eq 'INCR') {
                    if (!defined $r || $r ne 1000 + $n{$k} + 1) {
                        $wrong++;
                        $note->("INCR $k: got " . show($r) . ', want ' . (1000 + $n{$k} + 1));
                        $n{$k} = $r - 1000 if defined $r && $r =~ /^\d+$/;
                    } else {
                        $n{$k}++;
                    }
                } elsif ($op eq 'SET') {
                    if (($r // '') ne 'OK') {
                        $wrong++;
                        $note->("SET $k: " . show($r));
                    }
                    $last{$k} = $v;
                } elsif (($r // '(nil)') ne ($last{$k} // '(unknown)')) {
                    $wrong++;
                    $note->("GET $k: got " . show($r) . ', want ' . show($last{$k}));
                }
            }
            alarm 0;
            $batches++;
        }
    };
    $note->("client $id: $@") if $@;
    open my $fh, '>', "$file.tmp" or POSIX::_exit(1);
    print $fh "ctr $_ $n{$_}\n" for sort keys %n;
    print $fh "data $_ " . ($last{$_} // '-') . "\n" for sort keys %last;
    print $fh "errors $errors\nwrong $wrong\nbatches $batches\n";
    print $fh "note $_\n" for @notes;
    close $fh;
    rename "$file.tmp", $file;
    POSIX::_exit(0);
}

# Stops the clients; returns { ctr => {k => n}, data => {k => v}, errors,
# wrong, batches, notes => [...] } summed over them.
sub load_results {
    my (@kids) = @_;
    kill 'TERM', map { $_->[0] } @kids;
    my %res = (ctr => {}, data => {}, errors => 0, wrong => 0, batches => 0, notes => []);
    for my $k (@kids) {
        my ($pid, $file) = @$k;
        my $end = time + 25;
        my $got = 0;
        while (time < $end) {
            $got = waitpid($pid, POSIX::WNOHANG());
            last if $got == $pid || $got == -1;
            sleep 0.02;
        }
        if ($got != $pid && $got != -1) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
        my $text = read_file($file);
        push @{ $res{notes} }, "client $pid did not report" unless $text =~ /^batches /m;
        $res{errors}++ unless $text =~ /^batches /m;
        for (split /\n/, $text) {
            if (/^ctr (\S+) (\d+)$/) { $res{ctr}{$1} = $2 }
            elsif (/^data (\S+) (\S+)$/) { $res{data}{$1} = $2 eq '-' ? undef : $2 }
            elsif (/^(errors|wrong|batches) (\d+)$/) { $res{$1} += $2 }
            elsif (/^note (.*)$/) { push @{ $res{notes} }, $1 }
        }
    }
    return \%res;
}

# --- the checks, for one forward method ----------------------------------------------

my $PLAIN1 = 450;   # a slot of group 1 that never moves
my $PLAIN2 = 900;   # a slot of group 2

# A client's SET k a, then (310 ms later, k having been "being moved" for
# 300 ms meanwhile) SET k b and GET k: k ends as b. The slot is migrating.
sub write_order {
    my ($m, $slot, $name) = @_;
    my $k = key_in_slot("ww$m-", $slot);
    resp_cmd($dA, 'SET', $k, 'init');
    my $s = cordis_conn();
    resp_cmd($dS, 'STANDIN-HOLD', '127.0.0.1', $BPORT, $k, 300);
    print $s resp_encode('SET', $k, 'a');
    sleep 0.31;
    print $s resp_encode('SET', $k, 'b') . resp_encode('GET', $k);
    my @r = map { resp_read_or_closed($s, 5) } 1 .. 3;
    sleep 0.2;
    my @after = (resp_cmd($s, 'GET', $k), where($k));
    is(show([ @r, @after ]), show([ 'OK', 'OK', 'b', 'b', 'B' ]),
       "$name: SET k a, then SET k b, GET k on one connection while k was being moved: "
       . 'k is b afterwards (no write overtaken by a later one)');
    close $s;
}

sub run_method {
    my ($m) = @_;
    my $name = $m ? 'semi-async' : 'sync';
    my $base = $m ? 300 : 100;
    my ($sL, $sH, $sM, $sE, $sB) = map { $base + $_ } 0 .. 4;
    my @S = map { $base + 10 + $_ } 0 .. 2;
    my $s0 = cordis_conn();

    # 1. locked ------------------------------------------------------------------------
    {
        my $tag = key_in_slot("lk$m-", $sL);
        my ($kv, $kn) = ("{$tag}:v", "{$tag}:n");
        pipeline($s0, [ 'SET', $kv, 'locked-value' ], [ 'SET', $kn, 10 ]);
        my $before = join ',', where($kv), where($kn);
        prepared($sL, $m);
        my @cs = map { cordis_conn() } 1 .. 4;
        print $_ resp_encode('GET', $kv) . resp_encode('INCR', $kn) for @cs;
        my @early = map { resp_read_or_closed($cs[$_], $_ ? 0.05 : 0.4) } 0 .. $#cs;
        is_deeply(\@early, [ ('timeout') x 4 ],
                  "$name: GET and INCR for a locked slot wait (no reply within 0.4 s)")
            or diag("keys were on $before; early replies: " . show(\@early));
        migrating($sL, $m);
        my @got = map { [ resp_read_or_closed($_, 5), resp_read_or_closed($_, 5) ] } @cs;
        my @gets = map { $_->[0] } @got;
        my @incrs = sort { $a <=> $b } map { $_->[1] =~ /^\d+$/ ? $_->[1] : -1 } @got;
        ok(!grep({ ($_ // '') ne 'locked-value' } @gets) && "@incrs" eq '11 12 13 14',
           "$name: unlocked, they answer right (GET the value, INCR 11..14)")
            or diag('replies: ' . show(\@got));
        executor($sL);
        finished($sL);
        my @at = ($before, where($kv), where($kn), resp_cmd($dB, 'GET', $kn));
        is("@at", 'A,A B B 14', "$name: ... and after the executor the tag group is on B only");
        close $_ for @cs;
    }

    # 1b. semi-async: a key being moved is retried until it has moved (code 1);
    #     sync: a key not on the old group goes to the new one
    if ($m) {
        my $k = '{' . key_in_slot("hold-", $sH) . '}:n';
        my $k2 = '{' . key_in_slot("hold2-", $sH) . '}:s';
        pipeline($s0, [ 'SET', $k, 5 ], [ 'SET', $k2, 'v1' ]);
        prepared($sH, $m);
        migrating($sH, $m);
        my $st0 = stats();
        resp_cmd($dS, 'STANDIN-HOLD', '127.0.0.1', $BPORT, $_, 300) for $k, $k2;
        my $s2 = cordis_conn();
        my $t0 = time;
        print $s2 resp_encode('SET', $k2, 'v2') . resp_encode('GET', $k2);
        print $s0 resp_encode('GET', $k) . resp_encode('INCR', $k);
        my $get = resp_read($s0);
        my $tg = time - $t0;
        my $incr = resp_read($s0);
        my $ti = time - $t0;
        my $st1 = stats();
        my $retries = $st1->{wrapper_retry} - $st0->{wrapper_retry};
        ok(($get // '') eq '5' && $tg < 0.25 && ($incr // '') eq '6' && $ti >= 0.25,
           "$name: while its key is being moved, GET runs on the old group at once, "
           . 'INCR waits until the key moved (retries), then is answered by the new one')
            or diag(sprintf('GET %s after %.3f s, INCR %s after %.3f s', show($get), $tg,
                            show($incr), $ti));
        ok($retries >= 6 && where($k) eq 'B' && resp_cmd($dB, 'GET', $k) eq '6',
           "$name: ... the stand-in answered [1, _] $retries times (>= 6: 5 at once, then paced); "
           . 'the value is 6 on B')
            or diag("stats before: " . show($st0) . ', after: ' . show($st1) . ', key on ' . where($k));
        my $r = [ resp_read_or_closed($s2, 5), resp_read_or_closed($s2, 5) ];
        is(show($r), show([ 'OK', 'v2' ]),
           "$name: pipelined SET k v2, GET k while k is being moved: the GET sees v2 "
           . '(one client\'s requests on one key keep their order, as codis-proxy\'s session does)');
        close $s2;
        write_order($m, $sH, $name);
        executor($sH);
        finished($sH);
    } else {
        my $k = key_in_slot("new$m-", $sH);
        prepared($sH, $m);
        migrating($sH, $m);
        my $st0 = stats();
        my $r = pipeline($s0, [ 'SET', $k, 'fresh' ], [ 'GET', $k ]);
        my $st1 = stats();
        is(show($r), show([ 'OK', 'fresh' ]), "$name: SET/GET of a new key in a migrating slot");
        ok(where($k) eq 'B' && $st1->{tagone} - $st0->{tagone} == 2,
           "$name: ... it lives on B; each command went through SLOTSMGRTTAGONE first")
            or diag('key on ' . where($k) . '; stats before: ' . show($st0) . ', after: ' . show($st1));
        my $k2 = key_in_slot("old$m-", $sH);
        $r = pipeline($s0, [ 'SET', $k2, 'a' ], [ 'SET', $k2, 'b' ], [ 'GET', $k2 ]);
        is(show($r) . ' ' . where($k2), show([ 'OK', 'OK', 'b' ]) . ' B',
           "$name: pipelined SET k a, SET k b, GET k: b, in order (the first moved it to B)");
        write_order($m, $sH, $name);
        executor($sH);
        finished($sH);
    }

    # 2. migration under load --------------------------------------------------------------
    {
        my $NC = 4;
        my (@ctrs, @data, @fill);
        for my $s (@S) {
            my $tag = key_in_slot("ld$m-", $s);
            for my $i (0 .. $NC - 1) {
                push @{ $ctrs[$i] }, map { "{$tag}:ctr:$i:$_" } 0 .. 1;
                push @{ $ctrs[$i] }, key_in_slot("ctr$m:$i:", $s);
                push @{ $data[$i] }, map { key_in_slot("data$m:$i:$_:", $s) } 0 .. 2;
            }
            push @fill, map { key_in_slot("fill$m:$_:", $s) } 0 .. 9;
            push @fill, map { "{$tag}:fill:$_" } 0 .. 4;
        }
        my @all_ctr = map { @$_ } @ctrs;
        my @all_data = map { @$_ } @data;
        # Everything on A through cordis before the migration.
        pipeline($s0, (map { [ 'SET', $_, 1000 ] } @all_ctr), (map { [ 'SET', $_, 'init' ] } @all_data),
                 (map { [ 'SET', $_, "filler-$_" ] } @fill), (map { [ 'PEXPIRE', $_, 600_000 ] } @fill[0 .. 4]));
        my @onA = grep { where($_) ne 'A' } @all_ctr, @all_data, @fill;
        my $st0 = stats();
        resp_cmd($dS, 'STANDIN-SET', 'hold_ms', 30) if $m;
        my $dir = tmpdir() . "/load-$m";
        mkdir $dir;
        my @kids = map { [ load_client($_, $ctrs[$_], $data[$_], "$dir/client-$_"), "$dir/client-$_" ] }
                   0 .. $NC - 1;
        sleep 0.3;
        my (%direct0, %direct1, @tprep);
        for my $s (@S) {
            push @tprep, prepared($s, $m);
            $direct0{$s} = resp_cmd($dS, 'STANDIN-DIRECT', $s);
            sleep 0.1;                   # the clients' requests for $s wait meanwhile
            migrating($s, $m);
            executor($s, 0.01);
            finished($s);
            sleep 0.1;
        }
        sleep 0.3;
        my $res = load_results(@kids);
        resp_cmd($dS, 'STANDIN-SET', 'hold_ms', 0);
        my $st1 = stats();
        %direct1 = map { $_ => resp_cmd($dS, 'STANDIN-DIRECT', $_) } @S;
        my $incrs = 0;
        $incrs += $_ for values %{ $res->{ctr} };
        ok(!@onA && $res->{errors} == 0 && $res->{wrong} == 0 && $incrs >= 300,
           "$name load: $NC clients, $res->{batches} batches, $incrs INCRs, no error, every reply as expected")
            or diag(join "\n", "not on A before: @onA", "errors $res->{errors}, wrong $res->{wrong}",
                    @{ $res->{notes} });
        my @bad_ctr;
        for my $k (@all_ctr) {
            my $want = 1000 + ($res->{ctr}{$k} // -1000);
            my $got = resp_cmd($s0, 'GET', $k) // 'nil';
            my $w = where($k);
            push @bad_ctr, "$k: $got via cordis, want $want (INCR replies got: "
                . ($res->{ctr}{$k} // '?') . "), on $w" if $got ne $want || $w ne 'B';
        }
        ok(!@bad_ctr, "$name load: every counter = 1000 + the INCRs answered (none lost or doubled), on B only")
            or diag(join "\n", @bad_ctr[0 .. ($#bad_ctr < 9 ? $#bad_ctr : 9)]);
        my @bad_data;
        for my $k (@all_data) {
            my $want = exists $res->{data}{$k} ? $res->{data}{$k} : 'init';
            my $got = resp_cmd($s0, 'GET', $k);
            my $w = where($k);
            push @bad_data, "$k: " . show($got) . " via cordis, want " . show($want) . ", on $w"
                if !defined $want || ($got // '') ne $want || $w ne 'B';
        }
        for my $k (@fill) {
            my $got = resp_cmd($s0, 'GET', $k);
            my $w = where($k);
            push @bad_data, "$k: " . show($got) . " via cordis, on $w"
                if ($got // '') ne "filler-$k" || $w ne 'B';
        }
        my @ttl = map { resp_cmd($dB, 'PTTL', $_) } @fill[0 .. 4];
        push @bad_data, "PTTL on B of the keys that had one: @ttl" if grep { $_ < 500_000 } @ttl;
        ok(!@bad_data, "$name load: every data key readable through cordis with its last value, "
           . 'on B only (TTLs kept)')
            or diag(join "\n", @bad_data[0 .. ($#bad_data < 9 ? $#bad_data : 9)]);
        my @leftA = grep { my $k = $_; grep { codis_slot($k) == $_ } @S } @{ resp_cmd($dA, 'KEYS', '*') };
        is(scalar @leftA, 0, "$name load: A holds no key of the migrated slots") or diag("@leftA[0 .. 9]");
        my @bypass = grep { $direct1{$_} != $direct0{$_} } @S;
        ok(!@bypass, "$name load: once prepared returned, no plain command for the slot reached the old group")
            or diag(join ', ', map { "slot $_: $direct0{$_} -> $direct1{$_}" } @bypass);
        my $via = $m ? $st1->{wrapper} - $st0->{wrapper} : $st1->{tagone} - $st0->{tagone};
        my $what = $m ? 'SLOTSMGRT-EXEC-WRAPPER' : 'SLOTSMGRTTAGONE';
        ok($via > 0 && !grep({ $_ > 1 } @tprep),
           "$name load: $via ${what}s reached the stand-in; fillslots under load took "
           . join('/', map { sprintf '%.3f', $_ } @tprep) . ' s')
            or diag('stats before ' . show($st0) . ', after ' . show($st1));
        diag("$name load: stand-in " . join(' ', map { "$_ +" . ($st1->{$_} - $st0->{$_}) } sort keys %$st1));
    }

    # 3. multi-key commands over a migrating slot and plain ones --------------------------------
    {
        my @mk = map { key_in_slot("mk$m:$_:", $sM) } 0 .. 4;   # m0..m4 in the migrating slot
        my @p = map { key_in_slot("pk$m:$_:", $PLAIN1) } 0 .. 1;
        my $q = key_in_slot("qk$m:", $PLAIN2);
        pipeline($s0, [ 'SET', $mk[0], 'm0v' ], [ 'SET', $mk[1], 'm1v' ], [ 'SET', $p[0], 'p0v' ],
                 [ 'SET', $q, 'qv' ]);
        prepared($sM, $m);
        migrating($sM, $m);
        my $r = resp_cmd($s0, 'MGET', $mk[0], $p[0], $mk[1], $q, $mk[4]);
        is(show($r), show([ 'm0v', 'p0v', 'm1v', 'qv', undef ]),
           "$name: MGET over a migrating slot (keys on the old group, one missing), group 1 and group 2");
        $r = pipeline($s0, [ 'MSET', $mk[2], 'm2v', $p[1], 'p1v', $mk[0], 'm0w' ],
                      [ 'MGET', $mk[0], $mk[2], $p[1], $mk[1] ]);
        is(show($r), show([ 'OK', [ 'm0w', 'm2v', 'p1v', 'm1v' ] ]), "$name: MSET over them, then MGET");
        $r = pipeline($s0, [ 'DEL', $mk[1], $p[0], $q, $mk[3] ], [ 'EXISTS', $mk[0], $mk[1], $mk[2], $p[0], $p[1] ]);
        is(show($r), show([ 3, 3 ]), "$name: DEL over them counts 3 of 4; EXISTS 3 of 5");
        executor($sM);
        finished($sM);
        my @at = map { where($_) } @mk, @p, $q;
        is("@at", 'B none B none none none A none', "$name: ... afterwards m0, m2 on B, p1 on A, the deleted nowhere");
        $r = resp_cmd($s0, 'MGET', @mk, @p);
        is(show($r), show([ 'm0w', undef, 'm2v', undef, undef, undef, 'p1v' ]), "$name: ... and MGET reads them");
    }

    # 4. errors from the old group ------------------------------------------------------------
    {
        my $ok_key = key_in_slot("ek$m:", $sE);
        resp_cmd($s0, 'SET', $ok_key, 'fine');
        prepared($sE, $m);
        migrating($sE, $m);
        my $kerr = key_in_slot('standin-err:', $sE);
        my $kbad = key_in_slot('standin-bad:', $sE);
        my $kcode = key_in_slot('standin-badcode:', $sE);
        my $r = pipeline($s0, [ 'GET', $kerr ], [ 'SET', $kbad, 'x' ], [ 'INCR', $kcode ], [ 'GET', $ok_key ]);
        my $e = ref $r->[0] eq 'HASH' ? $r->[0]{err} : show($r->[0]);
        if ($m) {
            # codis-proxy 3.2 answers "bad slotsmgrt-exec-wrapper resp: ERR ..."
            # there (PROTOCOL.md 5).
            like($e, qr/^ERR handle request, bad slotsmgrt-exec-wrapper resp: ERR standin refuses \Q$kerr\E$/,
                 "$name: an error from SLOTSMGRT-EXEC-WRAPPER is the client's, prefixed");
        } else {
            like($e, qr/^ERR handle request, bad slotsmgrt resp: ERR standin refuses \Q$kerr\E$/,
                 "$name: an error from SLOTSMGRTTAGONE is the client's, prefixed");
        }
        my @e = map { ref $_ eq 'HASH' ? $_->{err} : show($_) } @$r[1, 2];
        my $want = $m ? qr/^ERR handle request, bad slotsmgrt-exec-wrapper resp: /
                      : qr/^ERR handle request, bad slotsmgrt resp: /;
        ok(!grep({ $_ !~ $want } @e),
           "$name: malformed answers (" . ($m ? '3 elements; code 7' : '+OK twice') . ') give '
           . ($m ? '"bad slotsmgrt-exec-wrapper resp"' : '"bad slotsmgrt resp"'))
            or diag(join "\n", @e);
        is(show($r->[3]), 'fine', "$name: ... and the connection goes on (a good key of the slot reads)");
        executor($sE);
        finished($sE);
        is(show(resp_cmd($s0, 'GET', $ok_key)) . ' ' . where($ok_key), 'fine B', "$name: ... which then moved to B");
    }

    # 5. the route barrier ----------------------------------------------------------------------
    {
        my $k = key_in_slot('standin-sleep:', $sB);
        resp_cmd($dA, 'SET', $k, 'slept');
        my $sc = cordis_conn();
        print $sc resp_encode('GET', $k);
        sleep 0.1;                                # at the stand-in, which holds the reply 500 ms
        my $t1 = prepared($sB, $m);
        my $ready = IO::Select->new($sc)->can_read(0) ? 1 : 0;
        my $got = resp_read_or_closed($sc, 2);
        ok($t1 >= 0.35 && $ready && ($got // '') eq 'slept',
           sprintf('%s: fillslots waited for the reply in flight to the old group (%.3f s), '
                   . 'which the client had when it answered', $name, $t1))
            or diag(sprintf('fillslots %.3f s, client reply there at once: %d, reply %s', $t1, $ready, show($got)));
        my $t2 = migrating($sB, $m);
        ok($t2 < 0.2, sprintf('%s: with nothing in flight, fillslots answers at once (%.3f s)', $name, $t2));
        print $sc resp_encode('GET', $k);
        my $t0 = time;
        $got = resp_read_or_closed($sc, 2);
        my $t3 = time - $t0;
        my $want_at = $m ? 'A' : 'B';   # semi-async: the old group runs the GET
        ok(($got // '') eq 'slept' && where($k) eq $want_at && $t3 < 0.3,
           sprintf('%s: its next request goes the migration way (%.3f s), the key on %s after it',
                   $name, $t3, $want_at))
            or diag('reply ' . show($got) . ', key on ' . where($k));
        executor($sB);
        my $t4 = finished($sB);
        ok($t4 < 0.2, sprintf('%s: finished answers at once too (%.3f s)', $name, $t4));
        close $sc;
    }
    close $s0;
}

run_method(0);
run_method(1);

ok(!@fill_bad, 'every fillslots answered 200') or diag(join "\n", @fill_bad);
is(resp_cmd($dS, 'PING'), 'PONG', 'the stand-in is still up');
stop_cordis($c);
log_is_clean($c);
CodisServerStandIn::stop($SI);
stop_redis($_) for $A, $B;
diag(sprintf('runtime %.1f s', time - $t_begin));
