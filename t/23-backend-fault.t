#!/usr/bin/perl
# Backend faults: a backend killed with requests in flight, restarted on the
# same port, missing from the start, stopped (SIGSTOP) past recv_timeout.
# Every request gets exactly one reply, in order; nothing hangs; cordis
# recovers by itself.
use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time);

use CordisTest;

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(150);

my $r1 = start_redis();
my $r2 = start_redis();
my $p2 = $r2->{port};

my $conf = write_conf(
    proxy   => { workers => 1 },
    backend => { recv_timeout => '1s' },
    groups  => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$p2" ] ],
    slots   => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
);
my $cordis = start_cordis($conf);


# A reply and how long it took.
sub timed_cmd {
    my ($s, @cmd) = @_;
    my $t0 = time;
    my $r = resp_cmd($s, @cmd);
    return ($r, time - $t0);
}

sub processed {
    my ($port) = @_;
    my $info = redis_cmd($port, 'INFO', 'stats');
    return ($info =~ /total_commands_processed:(\d+)/)[0];
}

my $unavailable = qr/^ERR backend 127\.0\.0\.1:$p2 unavailable: \S/;

my @k1 = map { key_in_group('f', 1, $_) } 0 .. 9;
my @k2 = map { key_in_group('f', 2, $_) } 0 .. 9;

my $s = resp_connect($conf->{port});
is(resp_cmd($s, 'MSET', map { ($_, "v:$_") } @k1, @k2), 'OK', 'keys set in both groups');

# --- 1000 requests in flight when a backend is killed ---------------------------

{
    # Stop group 2 first so its requests are surely in flight, then kill it.
    kill 'STOP', $r2->{pid};
    my @cmds = map { $_ % 2 ? [ 'GET', $k1[ $_ % 10 ] ] : [ 'GET', $k2[ $_ % 10 ] ] } 0 .. 999;
    my $before = processed($r1->{port});
    my $pid = send_bg($s, join '', map { resp_encode(@$_) } @cmds);
    # Once group 1 has seen its 500, cordis has dispatched all 1000.
    ok(wait_for(sub { processed($r1->{port}) - $before >= 501 }, 10), 'group 1 got its 500 requests');
    kill 'KILL', $r2->{pid};
    waitpid($pid, 0);
    my ($ok1, $err2, $bad) = (0, 0, 0);
    for my $i (0 .. 999) {
        my $r = resp_read($s);
        my $k = $cmds[$i][1];
        if ($i % 2) {
            (defined $r && !ref $r && $r eq "v:$k") ? $ok1++ : $bad++;
        } elsif (ref $r eq 'HASH' && $r->{err} =~ $unavailable) {
            $err2++;
        } else {
            $bad++;
            diag explain $r if $bad < 3;
        }
    }
    is($ok1, 500, 'group 1: 500 values, in order');
    is($err2, 500, 'group 2 (stopped, then killed): 500 "backend unavailable" errors, in order');
    is($bad, 0, 'no reply out of place');
    stop_redis($r2);    # reap it
    is(resp_cmd($s, 'GET', $k1[0]), "v:$k1[0]", 'connection still usable: group 1 answers');
    my ($r, $dt) = timed_cmd($s, 'GET', $k2[0]);
    like(ref $r eq 'HASH' ? $r->{err} : '', $unavailable, 'group 2 down: an error');
    cmp_ok($dt, '<', 0.5, sprintf('... at once (%.3f s)', $dt));
    is(resp_cmd($s, 'PING'), 'PONG', 'and nothing extra was queued behind');
}

# --- restart on the same port: back within about a second ------------------------

{
    my $t_down = time;
    my @slow;
    while (time - $t_down < 1) {
        my ($r, $dt) = timed_cmd($s, 'GET', $k2[1]);
        push @slow, $dt if $dt > 0.5 || !(ref $r eq 'HASH' && $r->{err} =~ $unavailable);
        Time::HiRes::sleep(0.05);   # a client retrying now and then, not a wait
    }
    is(scalar @slow, 0, 'while down, every request fails at once with the backend error');
    $r2 = start_redis(port => $p2);
    my $t_up = time;
    my $back = wait_for(sub {
        my $r = resp_cmd($s, 'SET', $k2[0], 'again');
        defined $r && !ref $r && $r eq 'OK';
    }, 5);
    my $took = time - $t_up;
    ok($back, 'requests to the restarted backend succeed again');
    cmp_ok($took, '<', 1.5, sprintf('... within about a second (%.2f s)', $took));
    is(resp_cmd($s, 'GET', $k2[0]), 'again', 'GET from the restarted backend');
    is(redis_cmd($p2, 'GET', $k2[0]), 'again', 'the write is on the new backend');
    is_deeply(resp_cmd($s, 'MGET', $k1[0], $k2[0]), [ "v:$k1[0]", 'again' ], 'MGET across both groups again');
}

# --- a kill with requests flowing: value or error, one each, in order ------------

{
    resp_cmd($s, 'MSET', map { ($_, "v:$_") } @k2);
    my $s2 = resp_connect($conf->{port});
    my @cmds = map { [ 'GET', $_ % 2 ? $k1[ $_ % 10 ] : $k2[ $_ % 10 ] ] } 0 .. 3999;
    my $pid = send_bg($s2, join '', map { resp_encode(@$_) } @cmds);
    my ($first) = resp_read($s2);
    kill 'KILL', $r2->{pid};
    my @r = ($first, map { resp_read($s2) } 2 .. 4000);
    waitpid($pid, 0);
    my ($bad, $errs, $vals) = (0, 0, 0);
    my $seen_err = 0;
    for my $i (0 .. 3999) {
        my $k = $cmds[$i][1];
        my $r = $r[$i];
        if ($i % 2) {
            $bad++ unless defined $r && !ref $r && $r eq "v:$k";
        } elsif (ref $r eq 'HASH') {
            $bad++ unless $r->{err} =~ $unavailable;
            $errs++;
        } else {
            $bad++ unless defined $r && $r eq "v:$k";
            $vals++;
        }
    }
    is($bad, 0, "4000 requests while group 2 is killed: each its own value or the backend error ($vals values, $errs errors)");
    is(resp_cmd($s2, 'PING'), 'PONG', 'exactly one reply each (the next is PING\'s)');
    stop_redis($r2);
    close $s2;
}

# --- the client leaves while its requests wait on a stopped backend ---------------

{
    $r2 = start_redis(port => $p2);
    ok(wait_for(sub { my $r = resp_cmd($s, 'SET', $k2[0], 'v'); !ref $r && $r eq 'OK' }, 5), 'group 2 up again');
    my @w = worker_pids($cordis);
    kill 'STOP', $r2->{pid};
    my $gone = resp_connect($conf->{port});
    my $before = processed($r1->{port});
    print $gone join '', map { resp_encode('GET', $k2[ $_ % 10 ]) . resp_encode('MGET', $k1[ $_ % 10 ], $k2[ $_ % 10 ]) . resp_encode('INFO') } 0 .. 299;
    # Group 1's halves of the MGETs and INFOs arriving means cordis sent them all.
    ok(wait_for(sub { processed($r1->{port}) - $before >= 600 }, 10), 'requests in flight');
    close $gone;
    kill 'KILL', $r2->{pid};
    stop_redis($r2);
    is(resp_cmd($s, 'GET', $k1[3]), "v:$k1[3]", 'after the replies of a gone client failed: group 1 fine');
    like(resp_cmd($s, 'GET', $k2[3])->{err} // '', $unavailable, 'group 2 down');
    my $info = resp_cmd($s, 'INFO');
    like($info // '', qr/^# Keyspace\r$/m, 'INFO with a group down still answers, with a keyspace');
    like($info // '', qr/^group_2:addr=127\.0\.0\.1:$r2->{port},status=down,error=/m,
         '... saying which group did not answer');
    like($info // '', qr/^group_1:addr=127\.0\.0\.1:$r1->{port},status=up,/m, '... and which did');
    is_deeply([ worker_pids($cordis) ], \@w, 'no worker died');
}

# --- multi-key commands with one group dead -----------------------------------------

{
    my @cmds = (
        [ 'MSET', $k1[0], 'x', $k2[0], 'y' ],
        [ 'MGET', $k1[0], $k2[0], $k1[1] ],
        [ 'DEL', $k1[5], $k2[5] ],
        [ 'EXISTS', @k1, @k2 ],
        [ 'GET', $k1[1] ],
        [ 'MGET', @k1 ],
        [ 'PING' ],
    );
    print $s join '', map { resp_encode(@$_) } @cmds;
    my @r = map { resp_read($s) } @cmds;
    like($r[0]{err} // '', $unavailable, 'MSET across groups, one dead: one error');
    like($r[1]{err} // '', $unavailable, 'MGET across groups, one dead: one error');
    like($r[2]{err} // '', $unavailable, 'DEL across groups, one dead: one error');
    like($r[3]{err} // '', $unavailable, 'EXISTS across groups, one dead: one error');
    is($r[4], "v:$k1[1]", 'GET on the live group after them');
    # (the split commands are not atomic: group 1's part of the MSET and DEL ran)
    is_deeply($r[5], [ 'x', map { $_ eq $k1[5] ? undef : "v:$_" } @k1[1 .. 9] ],
              'MGET on the live group only: values');
    is($r[6], 'PONG', 'one reply per command, in order');

    # Children in flight when the backend dies.
    $r2 = start_redis(port => $p2);
    ok(wait_for(sub { my $r = resp_cmd($s, 'SET', $k2[0], 'z'); !ref $r && $r eq 'OK' }, 5), 'group 2 back');
    kill 'STOP', $r2->{pid};
    my @many = map { [ 'MGET', $k1[ $_ % 10 ], $k2[ $_ % 10 ], $k1[ ($_ + 1) % 10 ] ] } 0 .. 199;
    print $s join '', map { resp_encode(@$_) } @many, [ 'MSET', $k1[0], 'a', $k2[0], 'b' ], [ 'GET', $k1[2] ];
    kill 'KILL', $r2->{pid};
    my @rr = map { resp_read($s) } 0 .. 201;
    is(scalar(grep { ref $_ eq 'HASH' && $_->{err} =~ $unavailable } @rr[0 .. 200]), 201,
       '200 MGETs and an MSET whose group-2 children die: one error each');
    is($rr[201], "v:$k1[2]", 'then the GET after them');
    is(resp_cmd($s, 'PING'), 'PONG', 'nothing left over');
    stop_redis($r2);
    is(resp_cmd($s, 'MSET', map { ($_, "v:$_") } @k1), 'OK', 'group 1 values reset (one group: not split)');
}

# --- SIGSTOP past backend.recv_timeout -------------------------------------------------

{
    $r2 = start_redis(port => $p2);
    ok(wait_for(sub { my $r = resp_cmd($s, 'SET', $k2[3], 'w'); !ref $r && $r eq 'OK' }, 5), 'group 2 up');
    is(resp_cmd($s, 'SET', $k2[4], "v:$k2[4]"), 'OK', 'another group 2 key');
    my $other = resp_connect($conf->{port});
    kill 'STOP', $r2->{pid};
    my $t0 = time;
    resp_send($s, 'GET', $k2[3]);
    my @fast;
    for my $i (1 .. 5) {
        my ($r, $dt) = timed_cmd($other, 'GET', $k1[$i]);
        push @fast, $dt if $dt > 0.2 || !defined $r || $r ne "v:$k1[$i]";
    }
    is(scalar @fast, 0, 'the other group answers at once while group 2 is stopped') or diag "@fast";
    my $r = resp_read($s);
    my $dt = time - $t0;
    like(ref $r eq 'HASH' ? $r->{err} : '', $unavailable, 'GET to the stopped backend: an error');
    like(ref $r eq 'HASH' ? $r->{err} : '', qr/1000 ms|timeout|timed out/i, '... naming the timeout');
    cmp_ok($dt, '>=', 0.9, sprintf('... not before recv_timeout (%.2f s)', $dt));
    cmp_ok($dt, '<', 1.5, sprintf('... within about 1.5 s (%.2f s)', $dt));
    is(resp_cmd($s, 'GET', $k1[0]), "v:$k1[0]", 'the client connection is still usable');
    kill 'CONT', $r2->{pid};
    my $t1 = time;
    ok(wait_for(sub { my $x = resp_cmd($s, 'GET', $k2[3]); defined $x && !ref $x && $x eq 'w' }, 5),
       'after SIGCONT, group 2 answers again');
    cmp_ok(time - $t1, '<', 1.5, sprintf('... within about a second (%.2f s)', time - $t1));
    # Late replies from the old connection must not answer new requests.
    is_deeply(resp_cmd($s, 'MGET', $k2[3], $k1[0], $k2[4]), [ 'w', "v:$k1[0]", "v:$k2[4]" ],
              'replies line up after recovery');
    close $other;
}

close $s;
stop_cordis($cordis);
log_is_clean($cordis);

# --- a backend that does not exist at start --------------------------------------------

{
    my $nobody = CordisTest::free_port();
    my $c2 = write_conf(
        name   => 'missing.conf',
        groups => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$nobody" ] ],
        slots  => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
    );
    my $c = start_cordis($c2);
    my $x = resp_connect($c2->{port});
    my $missing = qr/^ERR backend 127\.0\.0\.1:$nobody unavailable: \S/;
    for my $try (1 .. 3) {
        my ($r, $dt) = timed_cmd($x, 'GET', $k2[0]);
        like(ref $r eq 'HASH' ? $r->{err} : '', $missing, "missing backend, try $try: error");
        cmp_ok($dt, '<', 0.5, sprintf('... at once (%.3f s)', $dt));
    }
    is(resp_cmd($x, 'GET', $k1[0]), "v:$k1[0]", 'the other group works');
    my ($r, $dt) = timed_cmd($x, 'MGET', $k1[0], $k2[0]);
    like(ref $r eq 'HASH' ? $r->{err} : '', $missing, 'MGET touching the missing backend: error');
    cmp_ok($dt, '<', 0.5, '... at once');
    # It appears later: cordis finds it.
    my $late = start_redis(port => $nobody);
    ok(wait_for(sub { my $y = resp_cmd($x, 'SET', $k2[0], 'late'); !ref $y && $y eq 'OK' }, 6),
       'a backend started later is used');
    is(redis_cmd($nobody, 'GET', $k2[0]), 'late', '... the write is there');
    close $x;
    stop_cordis($c);
    log_is_clean($c);
    stop_redis($late);
}

# --- a backend that answers MGET with the wrong number of elements ------------------

# A fake backend: answers each request, MGET with one element too many.
sub fake_backend {
    my ($port) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 16,
                                       ReuseAddr => 1, Proto => 'tcp') or die "listen $port: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{ALRM} = 'DEFAULT';
        alarm 0;
        while (my $c = $listen->accept) {
            next if fork;   # a child per connection
            my $buf = '';
            while (sysread($c, $buf, 65536, length $buf)) {
                my $out = '';
                for my $args (resp_take_requests(\$buf)) {
                    my $n = @$args;
                    if (uc($args->[0]) eq 'MGET') {
                        $out .= '*' . $n . "\r\n" . ("\$4\r\nfake\r\n" x $n);
                    } else {
                        $out .= "+OK\r\n";
                    }
                }
                syswrite($c, $out) if length $out;
            }
            POSIX::_exit(0);
        }
        POSIX::_exit(0);
    }
    close $listen;
    return $pid;
}

{
    my $fport = CordisTest::free_port();
    my $fake = fake_backend($fport);
    my $c3 = write_conf(
        name   => 'fake.conf',
        proxy  => { workers => 1 },
        groups => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$fport" ] ],
        slots  => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
    );
    my $c = start_cordis($c3);
    my @workers = worker_pids($c);
    my $x = resp_connect($c3->{port});
    my $r = eval { resp_cmd($x, 'MGET', $k1[0], $k2[0], $k1[1]) };
    ok(ref $r eq 'HASH' && $r->{err} =~ /^ERR /,
       'MGET whose backend answers too many elements: an error reply') or diag explain $r // $@;
    $r = eval { resp_cmd($x, 'PING') } // '';
    is($r, 'PONG', 'the connection survives');
    is_deeply([ worker_pids($c) ], \@workers, 'the worker did not crash');
    close $x;
    stop_cordis($c);
    log_is_clean($c);
    kill 'KILL', $fake;
    waitpid($fake, 0);
}

done_testing();
