#!/usr/bin/perl
# Backend faults: a backend that answers garbage (a bad type byte, an
# impossible array length, nesting too deep, a reply cut off), one that
# answers LOADING / MASTERDOWN for a while, multi-key commands under load
# with one group dead, and a frozen backend with pipelined requests to both
# groups. Every request gets one reply, in order; the client connection
# stays usable; cordis neither crashes nor hangs, and recovers by itself.
use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use CordisTest;

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(150);
$SIG{PIPE} = 'IGNORE';



sub err_of { my ($r) = @_; return ref $r eq 'HASH' ? $r->{err} : '' }
sub show { my ($r) = @_; return !defined $r ? '(nil)' : ref $r eq 'HASH' ? "-$r->{err}" : ref $r ? '[array]' : $r }

# --- a fake backend -------------------------------------------------------------------
#
# One process, any number of connections (select loop). What it answers is
# read from $dir/mode before each request:
#   ok                 GET -> "fakeval", PING -> PONG, anything else -> OK
#   badtype            "?oops\r\n"
#   bigarray           "*4294967296\r\n"
#   deep               "*1\r\n" x 70 then ":1\r\n"
#   cut                "$10\r\nabc", then the connection is closed
#   errors N TEXT      "-TEXT" for the next N requests, then as ok
# PING is always answered +PONG (keepalives must not take a fault meant for
# a client's request). Each accept appends a line to $dir/accepts, each
# request its command name to $dir/requests.
sub fake_backend {
    my ($port, $dir) = @_;
    mkdir $dir;
    fake_mode($dir, 'ok');
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 64,
                                       ReuseAddr => 1, Proto => 'tcp') or die "listen $port: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{ALRM} = 'DEFAULT';
        my $parent = getppid();
        my $sel = IO::Select->new($listen);
        my %buf;
        my $log = sub {
            my ($file, $line) = @_;
            open my $fh, '>>', "$dir/$file" or return;
            print $fh "$line\n";
            close $fh;
        };
        # Ends with the test, however the test ends.
        while (getppid() == $parent) {
            for my $fh ($sel->can_read(0.5)) {
                if ($fh == $listen) {
                    my $c = $listen->accept or next;
                    $sel->add($c);
                    $buf{$c} = '';
                    $log->('accepts', 'accept');
                    next;
                }
                my $n = sysread($fh, $buf{$fh}, 65536, length $buf{$fh});
                if (!$n) {
                    $sel->remove($fh);
                    delete $buf{$fh};
                    close $fh;
                    next;
                }
                my ($out, $close) = ('', 0);
                while (!$close && $buf{$fh} =~ /\A\*(\d+)\r\n/) {
                    my ($argc, $pos, @args) = ($1, length($&));
                    for (1 .. $argc) {
                        last unless substr($buf{$fh}, $pos) =~ /\A\$(\d+)\r\n/;
                        my ($len, $hl) = ($1, length($&));
                        last if length($buf{$fh}) < $pos + $hl + $len + 2;
                        push @args, substr($buf{$fh}, $pos + $hl, $len);
                        $pos += $hl + $len + 2;
                    }
                    last if @args < $argc;
                    substr($buf{$fh}, 0, $pos) = '';
                    my $cmd = uc $args[0];
                    $log->('requests', $cmd);
                    if ($cmd eq 'PING') {
                        $out .= "+PONG\r\n";
                        next;
                    }
                    my $mode = read_file("$dir/mode");
                    chomp $mode;
                    if ($mode eq 'badtype') {
                        $out .= "?oops\r\n";
                    } elsif ($mode eq 'bigarray') {
                        $out .= "*4294967296\r\n";
                    } elsif ($mode eq 'deep') {
                        $out .= ("*1\r\n" x 70) . ":1\r\n";
                    } elsif ($mode eq 'cut') {
                        $out .= "\$10\r\nabc";
                        $close = 1;
                    } elsif ($mode =~ /^errors (\d+) (.*)$/ && $1 > 0) {
                        $out .= "-$2\r\n";
                        fake_mode($dir, $1 > 1 ? 'errors ' . ($1 - 1) . " $2" : 'ok');
                    } elsif ($cmd eq 'GET') {
                        $out .= "\$7\r\nfakeval\r\n";
                    } else {
                        $out .= "+OK\r\n";
                    }
                }
                syswrite($fh, $out) if length $out;
                if ($close) {
                    $sel->remove($fh);
                    delete $buf{$fh};
                    close $fh;
                }
            }
        }
        POSIX::_exit(0);
    }
    close $listen;
    return $pid;
}

sub fake_mode {
    my ($dir, $mode) = @_;
    open my $fh, '>', "$dir/mode.tmp" or die "$dir/mode.tmp: $!";
    print $fh "$mode\n";
    close $fh;
    rename "$dir/mode.tmp", "$dir/mode" or die "rename: $!";
}

sub fake_count {
    my ($dir, $file) = @_;
    my @lines = split /\n/, read_file("$dir/$file");
    return scalar @lines;
}

my $r1 = start_redis();
my $r2 = start_redis();

# --- garbage from a backend -------------------------------------------------------------

my $fdir = tmpdir() . '/fake';
my $fport = CordisTest::free_port();
my $fake = fake_backend($fport, $fdir);
{
    my $conf = write_conf_in('garbage',
        proxy   => { workers => 1 },
        backend => { ping_period => '60s' },
        groups  => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$fport" ] ],
        slots   => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
    );
    my $c = start_cordis($conf);
    my @workers = worker_pids($c);
    my $s = resp_connect($conf->{port});
    my $hk = key_in_group('healthy', 1);
    my $fk = key_in_group('fake', 2);
    is(resp_cmd($s, 'SET', $hk, 'real'), 'OK', 'SET on the healthy group');
    is(resp_cmd($s, 'GET', $fk), 'fakeval', 'the fake backend answers');
    my $unavailable = qr/^ERR backend 127\.0\.0\.1:$fport unavailable: \S/;

    for my $case ([ 'badtype', 'a bad type byte (?oops)' ],
                  [ 'bigarray', 'an array of 4294967296 elements' ],
                  [ 'deep', 'arrays nested 70 deep' ],
                  [ 'cut', 'a bulk cut mid-way, then the connection closed' ]) {
        my ($mode, $what) = @$case;
        my $accepts = fake_count($fdir, 'accepts');
        fake_mode($fdir, $mode);
        my $r = eval { resp_cmd($s, 'GET', $fk) };
        like(err_of($r), $unavailable, "$what: the request gets an error") or diag(show($r) . ($@ ? " ($@)" : ''));
        diag("  $what: -" . err_of($r)) if err_of($r);
        fake_mode($fdir, 'ok');
        $r = eval { resp_cmd($s, 'PING') } // "died: $@";
        is($r, 'PONG', "$what: the client connection stays usable");
        is(eval { resp_cmd($s, 'GET', $hk) } // "died: $@", 'real', "$what: the healthy group answers right");
        is_deeply([ worker_pids($c) ], \@workers, "$what: the worker did not crash");
        my $back;
        ok(wait_for(sub { $back = eval { resp_cmd($s, 'GET', $fk) }; defined $back && !ref $back && $back eq 'fakeval' }, 5),
           "$what: a later request redials the backend and is answered") or diag(show($back));
        cmp_ok(fake_count($fdir, 'accepts'), '>', $accepts, "$what: ... on a new connection");
    }

    # A fault with other requests pipelined behind it, to both groups.
    fake_mode($fdir, 'badtype');
    print $s resp_encode('GET', $hk), resp_encode('GET', $fk), resp_encode('GET', $hk), resp_encode('PING');
    my @r = map { scalar eval { resp_read($s) } } 1 .. 4;
    fake_mode($fdir, 'ok');
    is($r[0], 'real', 'pipelined: the healthy request before the fault');
    like(err_of($r[1]), $unavailable, 'pipelined: the faulty reply becomes an error');
    is($r[2], 'real', 'pipelined: the healthy request after it');
    is($r[3], 'PONG', 'pipelined: one reply each, in order');
    close $s;
    stop_cordis($c);
    log_is_clean($c);
}

# --- LOADING / MASTERDOWN -------------------------------------------------------------------

{
    my $conf = write_conf_in('loading',
        proxy   => { workers => 1 },
        backend => { ping_period => '60s' },
        groups  => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$fport" ] ],
        slots   => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
    );
    my $c = start_cordis($conf);
    my @workers = worker_pids($c);
    my $s = resp_connect($conf->{port});
    my $fk = key_in_group('fake', 2);
    my $hk = key_in_group('healthy', 1);
    is(resp_cmd($s, 'GET', $fk), 'fakeval', 'the fake backend answers');
    is(resp_cmd($s, 'SET', $hk, 'real'), 'OK', 'SET on the healthy group');

    for my $case ([ 'LOADING Redis is loading the dataset in memory', 3 ],
                  [ "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", 2 ]) {
        my ($text, $n) = @$case;
        my ($word) = $text =~ /^(\w+)/;
        my $accepts = fake_count($fdir, 'accepts');
        fake_mode($fdir, "errors $n $text");
        my (@replies, $last);
        my $t0 = time;
        my $ok = wait_for(sub {
            $last = eval { resp_cmd($s, 'GET', $fk) };
            push @replies, $last;
            defined $last && !ref $last && $last eq 'fakeval';
        }, 10);
        my $dt = time - $t0;
        is(err_of($replies[0]), $text, "$word: the client gets the backend's reply as it is");
        my @same = grep { err_of($_) eq $text } @replies;
        is(scalar @same, $n, "$word: every $word reply the backend gave reaches a client ($n)");
        my @other = grep { !(defined $_ && !ref $_ && $_ eq 'fakeval') && err_of($_) ne $text } @replies;
        is(scalar(grep { err_of($_) !~ /^ERR backend 127\.0\.0\.1:$fport unavailable: .*$word/ } @other), 0,
           "$word: between redials, an error naming it") or diag(join "\n", map { show($_) } @other[0 .. ($#other < 4 ? $#other : 4)]);
        ok($ok, sprintf('%s: once the backend answers normally, requests succeed (%.2f s, %d requests)', $word, $dt, scalar @replies));
        my $redials = fake_count($fdir, 'accepts') - $accepts;
        cmp_ok($redials, '>=', $n, "$word: cordis redialed ($redials new connections for $n stale replies)");
        cmp_ok($redials, '<=', $n + 2, "$word: ... with backoff, not in a loop");
        is(resp_cmd($s, 'GET', $hk), 'real', "$word: the healthy group answers right");
        is_deeply([ worker_pids($c) ], \@workers, "$word: the worker did not crash");
    }
    close $s;
    stop_cordis($c);
    log_is_clean($c);
}

kill 'KILL', $fake;
waitpid($fake, 0);

# --- multi-key commands with one group dead -----------------------------------------------

SKIP: {
    my $bench = `sh -c 'command -v redis-benchmark'`;
    chomp $bench;
    # tools/bootstrap installs it (Debian package redis-tools).
    ok($bench, 'redis-benchmark is installed') or skip 'no redis-benchmark', 11;
    my $p2 = $r2->{port};
    my $conf = write_conf_in('multikey',
        proxy  => { workers => 2 },
        groups => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$p2" ] ],
        slots  => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
    );
    my $c = start_cordis($conf);
    my @workers = worker_pids($c);
    my $port = $conf->{port};
    my $run = sub {
        my ($timeout, @args) = @_;
        my $t0 = time;
        my $out = `timeout $timeout redis-benchmark -p $port -t mset -q -r 100000 @args 2>&1`;
        return ($? >> 8, $out, time - $t0);
    };
    my ($rc, $out, $dt) = $run->(30, '-n 2000');
    is($rc, 0, 'redis-benchmark MSET, both groups up: completes') or diag($out);
    like($out, qr/MSET.*requests per second/s, '... with a result');

    # Killed while 50 clients pipeline MSETs over both groups.
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', tmpdir() . '/bench.out';
        open STDERR, '>&', \*STDOUT;
        exec 'timeout', '30', 'redis-benchmark', '-p', $port, '-t', 'mset', '-q', '-r', '100000',
             '-n', '10000000', '-c', '50', '-P', '8' or POSIX::_exit(127);
    }
    ok(wait_for(sub { redis_cmd($p2, 'DBSIZE') > 100 }, 10), 'redis-benchmark is running');
    stop_redis($r2, 'KILL');
    my $t0 = time;
    my $ended = wait_for(sub { waitpid($pid, POSIX::WNOHANG()) == $pid }, 20);
    ($rc, $dt) = ($? >> 8, time - $t0);
    $out = read_file(tmpdir() . '/bench.out');
    ok($ended, sprintf('redis-benchmark with a group killed under it ends (%.2f s)', $dt))
        or do { kill 'KILL', $pid; waitpid($pid, 0) };
    isnt($rc, 124, '... by itself, not by its timeout');
    like($out, qr/Error from server: ERR backend 127\.0\.0\.1:$p2 unavailable/, '... the error it stops on names the dead backend')
        or diag(substr($out, -500));

    # Started with the group already dead.
    ($rc, $out, $dt) = $run->(30, '-n 2000');
    isnt($rc, 124, sprintf('redis-benchmark MSET with a group dead: completes (rc %d, %.2f s)', $rc, $dt));
    like($out, qr/Error from server: ERR backend 127\.0\.0\.1:$p2 unavailable|requests per second/,
         '... with the failure named (redis-benchmark 7 stops at the first error)') or diag(substr($out, -500));

    is_deeply([ worker_pids($c) ], \@workers, 'cordis workers did not crash (same pids)');
    my $s = resp_connect($port);
    my @k1 = map { key_in_group('mk', 1, $_) } 0 .. 2;
    my @k2 = map { key_in_group('mk', 2, $_) } 0 .. 2;
    my $unavailable = qr/^ERR backend 127\.0\.0\.1:$p2 unavailable: \S/;
    print $s resp_encode('MSET', map { ($_, "v:$_") } @k1, @k2), resp_encode('MGET', @k1, @k2), resp_encode('MGET', @k1), resp_encode('PING');
    my @r = map { scalar eval { resp_read($s) } } 1 .. 4;
    like(err_of($r[0]), $unavailable, 'MSET across groups: one error reply naming the failure');
    like(err_of($r[1]), $unavailable, 'MGET across groups: one error reply naming the failure');
    is_deeply($r[2], [ map { "v:$_" } @k1 ], 'MGET on the live group: its part of the MSET landed');
    is($r[3], 'PONG', 'one reply per command, in order');
    close $s;
    $r2 = start_redis(port => $p2);
    stop_cordis($c);
    log_is_clean($c);
}

# --- a frozen backend with pipelined requests to both groups ---------------------------------

{
    my $conf = write_conf_in('frozen',
        proxy   => { workers => 1 },
        backend => { recv_timeout => '1s' },
        groups  => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$r2->{port}" ] ],
        slots   => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
    );
    my $c = start_cordis($conf);
    my @workers = worker_pids($c);
    my $s = resp_connect($conf->{port});
    my @k1 = map { key_in_group('fz', 1, $_) } 0 .. 49;
    my @k2 = map { key_in_group('fz', 2, $_) } 0 .. 49;
    is(resp_cmd($s, 'MSET', map { ($_, "v:$_") } @k1), 'OK', 'values in group 1');
    is(resp_cmd($s, 'MSET', map { ($_, "v:$_") } @k2), 'OK', 'values in group 2');
    my $unavailable = qr/^ERR backend 127\.0\.0\.1:$r2->{port} unavailable: \S/;

    kill 'STOP', $r2->{pid};
    my @keys = map { ($k1[$_], $k2[$_]) } 0 .. 49;
    my $t0 = time;
    print $s join '', map { resp_encode('GET', $_) } @keys;
    my @r = map { scalar eval { resp_read($s) } } 0 .. 99;
    my $dt = time - $t0;
    my @bad1 = grep { !defined $r[ 2 * $_ ] || ref $r[ 2 * $_ ] || $r[ 2 * $_ ] ne "v:$k1[$_]" } 0 .. 49;
    my @bad2 = grep { err_of($r[ 2 * $_ + 1 ]) !~ $unavailable } 0 .. 49;
    is(scalar(grep { defined } @r), 100, '100 pipelined GETs, one group frozen: 100 replies');
    is(scalar @bad1, 0, '... the healthy group\'s carry their values, in order')
        or diag(join ', ', map { show($r[ 2 * $_ ]) } @bad1[0 .. ($#bad1 < 4 ? $#bad1 : 4)]);
    is(scalar @bad2, 0, '... the frozen group\'s are errors')
        or diag(join ', ', map { show($r[ 2 * $_ + 1 ]) } @bad2[0 .. ($#bad2 < 4 ? $#bad2 : 4)]);
    diag('frozen: -' . err_of($r[1])) if err_of($r[1]);
    cmp_ok($dt, '<=', 1.6, sprintf('... all within about 1.5 s (%.2f s, backend.recv_timeout 1s)', $dt));

    kill 'CONT', $r2->{pid};
    my $t1 = time;
    ok(wait_for(sub { my $x = eval { resp_cmd($s, 'SET', $k2[0], 'a') }; defined $x && !ref $x && $x eq 'OK' }, 5),
       'after SIGCONT, the frozen group takes writes again');
    diag(sprintf('recovered in %.2f s', time - $t1));
    is(resp_cmd($s, 'GET', $k2[0]), 'a', 'SET k a; GET k is "a": late replies were discarded');
    my @now = map { scalar resp_cmd($s, 'GET', $_) } @k2[1 .. 49];
    is_deeply(\@now, [ map { "v:$_" } @k2[1 .. 49] ], 'every key of the recovered group reads its own value (nothing shifted)');
    is_deeply(resp_cmd($s, 'MGET', $k1[0], $k2[1], $k1[2], $k2[3]), [ "v:$k1[0]", "v:$k2[1]", "v:$k1[2]", "v:$k2[3]" ],
              'MGET across both groups lines up');
    is_deeply([ worker_pids($c) ], \@workers, 'the worker did not crash');
    close $s;
    stop_cordis($c);
    log_is_clean($c);
}

done_testing();
