#!/usr/bin/perl
# Limits and backpressure: proxy.max_clients, session.max_output and
# session.max_pipeline (a client that does not read must not make cordis
# buffer without bound), session.send_timeout and session.recv_timeout, the
# before-AUTH protocol limits and the AUTH failure counter, memory given back
# after large values, and thousands of idle connections.
#
# Memory is the worker's VmRSS from /proc. Under AddressSanitizer RSS figures
# mean little (shadow memory, quarantine), so there the figures are only
# printed, and what is asserted is what holds in any build: request counts
# seen by the backend, and that memory does not keep growing across repeats.
use strict;
use warnings;

# Thousands of connections need descriptors: with a low soft limit, run
# again under a shell that raises it (cordis, started from here, inherits it).
use FindBin ();
BEGIN {
    my $soft = `sh -c 'ulimit -n' 2>/dev/null` // '';
    chomp $soft;
    if (!$ENV{CORDIS_T60_REEXEC} && $soft ne 'unlimited' && $soft =~ /^\d+$/ && $soft < 5000) {
        $ENV{CORDIS_T60_REEXEC} = 1;
        exec 'sh', '-c', 'ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"',
             'sh', $^X, "-I$FindBin::Bin/lib", $0, @ARGV;
    }
}

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Test::More;
use Time::HiRes qw(time sleep);

use CordisTest;

# A fixed plan: a run that dies half-way reports every check it did not
# reach (skips fill in for the checks a build cannot make).
plan tests => 108;
$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(170);
$SIG{PIPE} = 'IGNORE';

my $bin = cordis_bin();
my $asan = (`nm $bin 2>/dev/null` =~ /__asan_init/) || (`ldd $bin 2>/dev/null` =~ /libasan/);
diag($asan ? "AddressSanitizer build: RSS figures are printed, not asserted"
           : "release build: RSS figures are asserted");

my $r1 = start_redis();
my $r2 = start_redis();
my @groups = ([ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$r2->{port}" ]);
my @slots = ([ '0-511', 1 ], [ '512-1023', 2 ]);

# A cordis of its own for each part: one worker, so every client and every
# figure is that worker's.
sub cordis_with {
    my ($name, %opt) = @_;
    my $conf = write_conf_in($name, proxy => { workers => 1, %{ delete $opt{proxy} || {} } },
                             groups => \@groups, slots => \@slots, %opt);
    # (args => []: start_cordis's own wait for the workers is done here.)
    my $c = start_cordis($conf, args => []);
    my $want = ($conf->{text} =~ /^\s*workers = (\d+);/m)[0];
    my ($w) = wait_for(sub { my @w = worker_pids($c); @w == $want ? $w[0] : 0 }, 10);
    die "$name: no worker" unless $w;
    $c->{worker} = $w;
    return $c;
}

sub rss { return CordisTest::proc_rss_kb($_[0]{worker}) // 0 }
sub hwm {
    my ($kb) = read_file("/proc/$_[0]{worker}/status") =~ /^VmHWM:\s+(\d+)\s+kB/m;
    return $kb // 0;
}
sub mb { return sprintf('%.1f MB', $_[0] / 1024) }


# A client socket with a small, fixed receive buffer (no autotuning), so
# what the kernel holds for a client that does not read is known.
sub small_rcvbuf_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 128 * 1024) or die "SO_RCVBUF: $!";
    $s->connect(Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1'))) or die "connect: $!";
    $s->autoflush(1);
    binmode $s;
    return $s;
}

# Raw replies with sysread (for sockets also checked for EOF with sysread).
sub sys_reply {
    my ($s, $timeout) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $end = time + ($timeout // 5);
    while (time < $end) {
        return $buf if $buf =~ /\r\n\z/;
        last unless $sel->can_read($end - time);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    return $buf;
}

sub info_field {
    my ($s, $section, $field) = @_;
    my $info = resp_cmd($s, 'INFO', $section);
    return ref $info ? undef : ($info =~ /^\Q$field\E:(\d+)/m)[0];
}

sub backend_requests {
    my ($c, $port) = @_;
    my $st = admin_get($c->{conf}, '/api/proxy/stats')->{json} or return -1;
    my ($b) = grep { $_->{addr} eq "127.0.0.1:$port" } @{ $st->{backends} || [] };
    return $b ? $b->{requests} : -1;
}


# --- proxy.max_clients ---------------------------------------------------------------

{
    my $c = cordis_with('maxclients', proxy => { max_clients => 4 });
    my $port = $c->{conf}{port};
    my @in = map { resp_connect($port) } 1 .. 4;
    is_deeply([ map { resp_cmd($_, 'PING') } @in ], [ ('PONG') x 4 ], 'max_clients 4: four clients served');
    my $fifth = resp_connect($port);
    my ($got, $eof) = read_until_eof($fifth, 5);
    is($got, "-ERR max number of clients reached\r\n", 'the fifth gets exactly the max clients error');
    ok($eof, '... and is closed');
    close $fifth;
    is_deeply([ map { resp_cmd($_, 'PING') } @in ], [ ('PONG') x 4 ], 'the four are unaffected');
    is(info_field($in[0], 'clients', 'connected_clients'), 4, 'INFO clients: 4 connected');
    my $st = admin_get($c->{conf}, '/api/proxy/stats')->{json};
    is($st->{net}{rejected}, 1, 'admin stats: net.rejected = 1');
    close(shift @in);
    my $new;
    ok(wait_for(sub {
        my $s = resp_connect($port);
        resp_send($s, 'PING');
        my $r = eval { resp_read($s) };
        if (defined $r && !ref $r && $r eq 'PONG') { $new = $s; return 1 }
        close $s;
        return 0;
    }, 5), 'after one leaves, a new client is accepted');
    my ($again, $eof2) = read_until_eof(resp_connect($port), 5);
    is($again, "-ERR max number of clients reached\r\n", 'and the limit holds again at 4');
    close $_ for @in, $new;
    stop_cordis($c);
    log_is_clean($c);
}

# --- proxy.max_clients is the proxy's, not split per worker ------------------------
# SO_REUSEPORT spreads connections by a hash of their addresses, not evenly.
# Connections are kept only when they land on one worker, until that worker
# holds five of the six places: a split limit (three each) would refuse them.

{
    my $c = cordis_with('maxclients2', proxy => { workers => 2, max_clients => 6 });
    my $port = $c->{conf}{port};
    # CLIENT ID carries the worker's stats row in its low 8 bits.
    my $row_of = sub { my $id = resp_cmd($_[0], 'CLIENT', 'ID'); ref $id ? -1 : $id % 256 };
    my (@mine, $row);
    for (1 .. 400) {
        last if @mine == 5;
        my $s = resp_connect($port);
        my $r = $row_of->($s);
        $row //= $r;
        if ($r == $row) { push @mine, $s } else { close $s }
        # Wait for the other worker to see its client's close, so places
        # held by closed clients never add up.
        wait_for(sub { (info_field($mine[0], 'clients', 'connected_clients') // 99) == @mine }, 5);
    }
    is(scalar @mine, 5, 'five clients on one worker (a split limit would allow three)');
    is_deeply([ map { resp_cmd($_, 'PING') } @mine ], [ ('PONG') x 5 ], 'all five served');
    is(info_field($mine[0], 'clients', 'maxclients'), 6, 'INFO maxclients is the configured global limit');
    is(info_field($mine[0], 'clients', 'connected_clients'), 5, 'INFO connected_clients counts every worker');
    my $sixth = resp_connect($port);
    is(resp_cmd($sixth, 'PING'), 'PONG', 'a sixth client is served, whichever worker takes it');
    my @refused;
    for (1 .. 8) {
        my ($got) = read_until_eof(resp_connect($port), 5);
        push @refused, $got;
    }
    is_deeply(\@refused, [ ("-ERR max number of clients reached\r\n") x 8 ],
              'beyond six every connection is refused, on both workers');

    # A worker killed with its clients gives their places back.
    my ($victim) = grep { conn_owner_pid($port, $mine[0]->sockport, $_) } worker_pids($c);
    ok($victim, 'found the worker holding the five');
    kill 'KILL', $victim;
    ok(wait_for(sub { my @w = worker_pids($c); @w == 2 && !grep { $_ == $victim } @w }, 10),
       'the killed worker is respawned');
    # The sixth survives when the other worker holds it.
    my $left = eval { resp_cmd($sixth, 'PING') } // '';
    $left = $left eq 'PONG' ? 1 : 0;
    my $observed;
    ok(wait_for(sub {
        my $o = eval { resp_connect($port) } or return 0;
        $observed = eval { info_field($o, 'clients', 'connected_clients') };
        close $o;
        return defined $observed && $observed == $left + 1;
    }, 10), "its five places are free again (connected_clients $left and an observer)")
        or diag("connected_clients: " . ($observed // 'none'));
    my @again = map { resp_connect($port) } 1 .. 6 - $left - 1;
    is_deeply([ map { resp_cmd($_, 'PING') } @again ], [ ('PONG') x (5 - $left) ],
              'new clients take them');
    my $last = resp_connect($port);
    is(resp_cmd($last, 'PING'), 'PONG', 'up to six again');
    push @again, $last;
    my ($got) = read_until_eof(resp_connect($port), 5);
    is($got, "-ERR max number of clients reached\r\n", 'and the limit is six again');
    close $_ for @mine, @again, $sixth;
    stop_cordis($c);
    log_is_clean_but($c, qr/\(pid $victim\) was killed by signal 9/);
}

# --- a client that left at once holds no place --------------------------------------
# Connections that are opened and closed before the worker reads them (port
# probes) are accepted, and counted, before their close is seen.

{
    my $c = cordis_with('departed', proxy => { max_clients => 2 });
    my $port = $c->{conf}{port};
    kill 'STOP', $c->{worker};
    # Three probes queue up and close while the worker cannot run.
    for (1 .. 3) { my $p = resp_connect($port); close $p }
    my @in = map { resp_connect($port) } 1 .. 2;
    resp_send($_, 'PING') for @in;
    kill 'CONT', $c->{worker};
    is_deeply([ map { resp_read_or_closed($_, 5) } @in ], [ 'PONG', 'PONG' ],
              'max_clients 2: two clients behind three departed probes are served');
    my ($got) = read_until_eof(resp_connect($port), 5);
    is($got, "-ERR max number of clients reached\r\n", 'a third live client is refused');
    close $_ for @in;
    stop_cordis($c);
    log_is_clean($c);
}

# --- backpressure: session.max_output ------------------------------------------------

{
    my $c = cordis_with('maxoutput', session => { max_output => '1mb' });
    my $port = $c->{conf}{port};
    my $s = resp_connect($port);
    my @keys = map { key_in_group('bp', 1 + $_ % 2, int($_ / 2)) } 0 .. 9;
    my @vals = map { chr(ord('a') + $_) x 100_000 } 0 .. 9;
    is(resp_cmd($s, 'SET', $keys[$_], $vals[$_]), 'OK', "SET 100 KB value $_") for 0 .. 9;
    is(resp_cmd($s, 'GET', $keys[0]), $vals[0], 'GET one back');
    my $idle = rss($c);
    my $n = 3000;
    my $before = backend_requests($c, $r1->{port}) + backend_requests($c, $r2->{port});
    my $x = small_rcvbuf_connect($port);
    my $writer = send_bg($x, join '', map { resp_encode('GET', $keys[ $_ % 10 ]) } 0 .. $n - 1);
    # Not read for 3 s: what cordis sends to the backends, and its memory.
    my ($peak, $sent) = (0, 0);
    wait_for(sub {
        my $r = rss($c);
        $peak = $r if $r > $peak;
        $sent = backend_requests($c, $r1->{port}) + backend_requests($c, $r2->{port}) - $before;
        return 0;
    }, 3);
    diag(sprintf('max_output 1mb, %d GETs of 100 KB not read: worker RSS idle %s, peak %s (+%s); '
                 . '%d GETs forwarded meanwhile (%s of replies)', $n, mb($idle), mb($peak),
                 mb($peak - $idle), $sent, mb($sent * 100)));
    # 1 MB queued in cordis + what the kernel holds (4 MB send buffer at
    # most, the client's 128 KB) allow ~50 replies, plus those in flight when
    # the limit was reached; 64 MB (640 replies) is a generous bound.
    cmp_ok($sent, '<=', 640, 'requests forwarded while the client does not read are bounded (64 MB of replies)');
    SKIP: {
        skip 'RSS figures mean nothing under AddressSanitizer: the release build asserts them', 1 if $asan;
        cmp_ok($peak - $idle, '<', 64 * 1024, 'worker RSS stays within 64 MB of idle while the client does not read');
    }
    my ($bad, $first_bad) = (0, undef);
    for my $i (0 .. $n - 1) {
        my $r = eval { resp_read($x) };
        if (!defined $r || ref $r || $r ne $vals[ $i % 10 ]) {
            $bad++;
            $first_bad //= "reply $i: " . (defined $r ? (ref $r ? "-$r->{err}" : length($r) . ' bytes') : $@ || 'nil');
            last if !defined $r && $@;
        }
    }
    is($bad, 0, "once it reads, all $n replies arrive, in order") or diag($first_bad);
    waitpid($writer, 0);
    is(resp_cmd($x, 'PING'), 'PONG', 'the connection is still usable');
    close $x;
    close $s;
    stop_cordis($c);
    log_is_clean($c);
}

# --- backpressure: session.max_pipeline ----------------------------------------------

{
    my $c = cordis_with('maxpipeline', session => { max_pipeline => 100 },
                        backend => { recv_timeout => '30s' });
    my $port = $c->{conf}{port};
    my $k = key_in_group('pipe', 1);
    is(redis_cmd($port, 'SET', $k, 'small'), 'OK', 'SET a small value');
    my $before = backend_requests($c, $r1->{port});
    kill 'STOP', $r1->{pid};
    my $x = resp_connect($port);
    my $n = 20_000;
    my $writer = send_bg($x, resp_encode('GET', $k) x $n);
    my $sent = 0;
    wait_for(sub { $sent = backend_requests($c, $r1->{port}) - $before; $sent >= 100 }, 5);
    # Given time to go past the limit, it must not.
    wait_for(sub { $sent = backend_requests($c, $r1->{port}) - $before; $sent > 100 }, 1);
    kill 'CONT', $r1->{pid};
    is($sent, 100, 'max_pipeline 100, backend stopped: exactly 100 requests in flight');
    my $bad = 0;
    for my $i (1 .. $n) {
        my $r = eval { resp_read($x) };
        $bad++ unless defined $r && !ref $r && $r eq 'small';
        last if !defined $r && $@;
    }
    is($bad, 0, "all $n pipelined GETs answered, in order, once the backend is back");
    waitpid($writer, 0);
    is(resp_cmd($x, 'PING'), 'PONG', 'the connection is still usable');
    close $x;
    stop_cordis($c);
    log_is_clean($c);
}

# --- session.send_timeout ------------------------------------------------------------

{
    my $c = cordis_with('sendtimeout', session => { send_timeout => '1s' });
    my $port = $c->{conf}{port};
    my $s = resp_connect($port);
    my $k = key_in_group('send', 2);
    my $v = 'v' x 100_000;
    is(resp_cmd($s, 'SET', $k, $v), 'OK', 'SET a 100 KB value');

    # A client that stops reading with 10 MB of replies pending.
    my $x = small_rcvbuf_connect($port);
    ok(wait_for(sub { (info_field($s, 'clients', 'connected_clients') // 0) == 2 }, 5), 'two clients');
    my $t0 = time;
    syswrite($x, resp_encode('GET', $k) x 100);
    my @slow;
    my $closed = wait_for(sub {
        my $t = time;
        my $r = resp_cmd($s, 'GET', $k);
        push @slow, sprintf('%.3f', time - $t) if time - $t > 0.5 || !defined $r || $r ne $v;
        return (info_field($s, 'clients', 'connected_clients') // 0) == 1;
    }, 4);
    my $dt = time - $t0;
    ok($closed, 'a client that stops reading with replies pending is closed');
    cmp_ok($dt, '>=', 0.9, sprintf('... not before send_timeout (%.2f s)', $dt));
    cmp_ok($dt, '<=', 2.6, sprintf('... about 1 s after (the check runs each second) (%.2f s)', $dt));
    is(scalar @slow, 0, 'another client is served at once meanwhile') or diag("@slow");
    my ($got, $eof) = read_until_eof($x, 10);
    ok($eof, 'the stalled client sees the connection closed');
    cmp_ok(length $got, '<', 100 * (length($v) + 12), '... before all of its replies');
    close $x;
    is(resp_cmd($s, 'GET', $k), $v, 'the other client is unaffected afterwards');

    # A slow reader that keeps reading is not "not reading": with 10 MB
    # pending and 600 KB/s taken, it must not be closed after 1 s.
    my $y = small_rcvbuf_connect($port);
    syswrite($y, resp_encode('GET', $k) x 100);
    my $taken = 0;
    my $gone = wait_for(sub {
        my $n = sysread($y, my $buf, 32 * 1024);
        return 1 unless $n;
        $taken += $n;
        sleep 0.05;
        return 0;
    }, 3);
    my $alive = info_field($s, 'clients', 'connected_clients') // 0;
    ok(!$gone && $alive == 2, 'a slow reader that keeps reading is not closed by send_timeout')
        or diag(sprintf('closed after reading %s of 10 MB in 3 s (connected_clients %d)', mb($taken / 1024), $alive));
    close $y;
    close $s;
    stop_cordis($c);
    log_is_clean($c);
}

# --- session.recv_timeout ------------------------------------------------------------

{
    my $c = cordis_with('recvtimeout', session => { recv_timeout => '1s' });
    my $port = $c->{conf}{port};
    my $idle = resp_connect($port);
    my $busy = resp_connect($port);
    syswrite($idle, resp_encode('PING'));
    is(sys_reply($idle), "+PONG\r\n", 'idle client: one PING');
    my $t0 = time;
    my ($eof, $busy_ok) = (0, 1);
    my $sel = IO::Select->new($idle);
    # The busy client talks every 0.3 s for 3 s; the idle one only waits.
    my $end = $t0 + 3;
    my $closed_at;
    while (time < $end) {
        my $r = resp_cmd($busy, 'PING');
        $busy_ok = 0 unless defined $r && !ref $r && $r eq 'PONG';
        if (!defined $closed_at && $sel->can_read(0.3)) {
            my $n = sysread($idle, my $buf, 100);
            $closed_at = time - $t0 if !$n;
        } elsif (defined $closed_at) {
            sleep 0.3;
        }
    }
    ok(defined $closed_at, 'recv_timeout 1s: an idle client is closed');
    $closed_at //= 99;
    cmp_ok($closed_at, '>=', 0.9, sprintf('... not before 1 s (%.2f s)', $closed_at));
    cmp_ok($closed_at, '<=', 2.6, sprintf('... within about 2 s (%.2f s)', $closed_at));
    ok($busy_ok, 'a client that keeps talking stays open (3 s)');
    is(resp_cmd($busy, 'PING'), 'PONG', '... and is still served');
    close $_ for $idle, $busy;
    stop_cordis($c);
    log_is_clean($c);

    my $c0 = cordis_with('recvtimeout0', session => { recv_timeout => '0s' });
    my $s = resp_connect($c0->{conf}{port});
    syswrite($s, resp_encode('PING'));
    is(sys_reply($s), "+PONG\r\n", 'recv_timeout 0: PING');
    my $gone = wait_for(sub { IO::Select->new($s)->can_read(0.1) ? 1 : 0 }, 3);
    ok(!$gone, 'recv_timeout 0: an idle client stays open for 3 s');
    syswrite($s, resp_encode('PING'));
    is(sys_reply($s), "+PONG\r\n", '... and is served');
    close $s;
    stop_cordis($c0);
    log_is_clean($c0);
}

# --- before AUTH: protocol limits, and AUTH failures counted ----------------------------

{
    my $c = cordis_with('unauth', session => { auth => 'sekret' });
    my $port = $c->{conf}{port};
    my $auth_failures = sub {
        my $st = admin_get($c->{conf}, '/api/proxy/stats')->{json};
        return $st ? $st->{net}{auth_failures} : -1;
    };

    my $s = resp_connect($port);
    syswrite($s, "*11\r\n");
    my ($got, $eof) = read_until_eof($s, 5);
    is($got, "-ERR Protocol error: unauthenticated multibulk length\r\n", '*11 before AUTH: Redis\'s error');
    ok($eof, '... and the connection is closed');

    $s = resp_connect($port);
    syswrite($s, "*3\r\n\$3\r\nSET\r\n\$1\r\nk\r\n\$16385\r\n");
    ($got, $eof) = read_until_eof($s, 5);
    is($got, "-ERR Protocol error: unauthenticated bulk length\r\n", '16385-byte bulk before AUTH: Redis\'s error');
    ok($eof, '... and the connection is closed');

    # At the limits: refused for want of AUTH, but not a protocol error.
    $s = resp_connect($port);
    syswrite($s, resp_encode('MSET', (map { ("k$_", 'v') } 1 .. 4), 'x'));    # 10 arguments
    like(sys_reply($s), qr/^-NOAUTH /, '*10 before AUTH: NOAUTH, no protocol error');
    syswrite($s, resp_encode('SET', 'k', 'x' x 16384));
    like(sys_reply($s), qr/^-NOAUTH /, '16384-byte bulk before AUTH: NOAUTH');

    my $f0 = $auth_failures->();
    for my $pw (qw(wrong also-wrong sekret2)) {
        syswrite($s, resp_encode('AUTH', $pw));
        like(sys_reply($s), qr/^-(WRONGPASS|ERR) /, "AUTH $pw: refused");
    }
    syswrite($s, resp_encode('AUTH', 'sekret'));
    is(sys_reply($s), "+OK\r\n", 'AUTH with the password: OK');
    ok(wait_for(sub { $auth_failures->() == $f0 + 3 }, 5),
       'admin stats net.auth_failures counts the 3 failures') or diag('got ' . $auth_failures->() . ", was $f0");
    close $s;

    $s = resp_connect($port);
    is(resp_cmd($s, 'AUTH', 'sekret'), 'OK', 'AUTH');
    my @kv = map { (key_in_group('auth', 1 + $_ % 2, $_), "v$_") } 0 .. 4;
    is(resp_cmd($s, 'MSET', @kv), 'OK', 'after AUTH: 11 arguments are fine');
    is_deeply(resp_cmd($s, 'MGET', @kv[ map { 2 * $_ } 0 .. 4 ]), [ map { "v$_" } 0 .. 4 ], '... values there');
    my $big = join '', map { chr(65 + $_ % 26) } 1 .. 16385;
    is(resp_cmd($s, 'SET', $kv[0], $big), 'OK', 'after AUTH: a 16385-byte bulk is fine');
    is(resp_cmd($s, 'GET', $kv[0]), $big, '... and reads back');
    is(info_field($s, 'stats', 'auth_failures'), $f0 + 3, 'INFO stats auth_failures agrees');
    close $s;
    stop_cordis($c);
    log_is_clean($c);
}

# --- memory given back after large values ---------------------------------------------

# ping_period is long here so no keepalive traffic happens to release what a
# quiet connection holds: memory must come back without it.
# Under ASan freed memory waits in a quarantine (256 MB by default) before
# it goes back; a small one makes growth across repeats visible there too.
{
    local $ENV{ASAN_OPTIONS} = join ':', grep { length } $ENV{ASAN_OPTIONS} // '', 'quarantine_size_mb=16';
    my $c = cordis_with('memory', backend => { ping_period => '60s' });
    my $port = $c->{conf}{port};
    my $k = key_in_group('big', 1);
    my $warm = resp_connect($port);
    is(resp_cmd($warm, 'SET', $k, 'small'), 'OK', 'warm up');
    is(resp_cmd($warm, 'GET', $k), 'small', 'warm up: GET');
    close $warm;
    wait_for(sub { 0 }, 1.2);    # let the idle sweep run once
    my $idle = rss($c);
    my $limit = $idle + (0.2 * $idle > 8 * 1024 ? 0.2 * $idle : 8 * 1024);
    my $value = 'm' x (50 * 1024 * 1024);
    # Waits for the figure to come back (release build) or to settle (ASan:
    # nothing is trimmed there, freed memory sits in quarantine).
    my $settle = sub {
        my $now;
        if ($asan) {
            my $last = -1;
            wait_for(sub { $now = rss($c); my $same = abs($now - $last) < 1024; $last = $now; sleep 0.5; $same }, 6);
        } else {
            wait_for(sub { $now = rss($c); $now <= $limit }, 5);
        }
        return $now;
    };
    my @after;
    for my $round (1 .. 3) {
        my $s = resp_connect($port);
        my $ok = 0;
        for my $i (1 .. 5) {
            substr($value, 0, 8) = sprintf('%02d-%05d', $round, $i);
            my $r = resp_cmd($s, 'SET', $k, $value);
            $ok++ if defined $r && !ref $r && $r eq 'OK';
        }
        my $peak = hwm($c);
        is($ok, 5, "round $round: 5 x SET of 50 MB through cordis");
        close $s;
        my $now = $settle->();
        push @after, $now;
        diag(sprintf('SET round %d: worker RSS idle %s, peak %s, after %s (ratio %.2f)', $round, mb($idle),
                     mb($peak), mb($now), $now / ($idle || 1)));
        SKIP: {
            skip 'RSS figures mean nothing under AddressSanitizer: the release build asserts them', 1 if $asan;
            cmp_ok($now, '<=', $limit, sprintf('round %d: RSS back within 20%% (or 8 MB) of idle within 5 s', $round));
        }
    }
    cmp_ok($after[2], '<=', $after[0] + 64 * 1024,
           sprintf('memory does not keep growing across repeats (%s, %s, %s)', map { mb($_) } @after));

    # The reply path: a 50 MB value read back through cordis.
    my $s = resp_connect($port);
    my $back = resp_cmd($s, 'GET', $k);
    ok(defined $back && !ref $back && $back eq $value, 'GET of 50 MB reads it back');
    close $s;
    my $now = $settle->();
    diag(sprintf('after a 50 MB GET: worker RSS %s (ratio %.2f)', mb($now), $now / ($idle || 1)));
    SKIP: {
        skip 'RSS figures mean nothing under AddressSanitizer: the release build asserts them', 1 if $asan;
        cmp_ok($now, '<=', $limit, 'after a 50 MB reply: RSS back within 20% (or 8 MB) of idle within 5 s');
    }
    cmp_ok($now, '<=', $after[2] + 32 * 1024, 'the reply path does not pin more than the request path');
    is(redis_cmd($port, 'DEL', $k), 1, 'clean up');
    stop_cordis($c);
    log_is_clean($c);
}

# --- 2,000 idle connections -------------------------------------------------------------

SKIP: {
    my $limit = `sh -c 'ulimit -n'`;
    chomp $limit;
    my $n = 2000;
    skip "file descriptor limit $limit is too low for $n connections", 6
        if $limit ne 'unlimited' && $limit < $n + 200;
    my $c = cordis_with('idle', proxy => { max_clients => 10000 });
    my $port = $c->{conf}{port};
    my $obs = resp_connect($port);
    is(resp_cmd($obs, 'PING'), 'PONG', 'observer connected');
    wait_for(sub { 0 }, 1.2);
    my $base = rss($c);
    my @conns;
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp', Timeout => 5) or last;
        binmode $s;
        push @conns, $s;
    }
    is(scalar @conns, $n, "$n connections opened");
    ok(wait_for(sub { (info_field($obs, 'clients', 'connected_clients') // 0) == $n + 1 }, 20),
       "$n idle connections accepted (connected_clients " . (info_field($obs, 'clients', 'connected_clients') // '?') . ')');
    my $with = rss($c);
    my $per = ($with - $base) * 1024 / $n;
    # Each says PING once, then idles.
    syswrite($_, "*1\r\n\$4\r\nPING\r\n") for @conns;
    my $pong = grep { sys_reply($_, 5) eq "+PONG\r\n" } @conns;
    is($pong, $n, "each of the $n answers a PING");
    my $after = rss($c);
    my $per_used = ($after - $base) * 1024 / $n;
    diag(sprintf('worker RSS: %s idle, %s with %d idle connections (%.0f bytes each), '
                 . '%s after one PING each (%.0f bytes each)', mb($base), mb($with), $n, $per,
                 mb($after), $per_used));
    SKIP: {
        skip 'RSS figures mean nothing under AddressSanitizer: the release build asserts them', 2 if $asan;
        cmp_ok($per, '<', 4096, sprintf('RSS per idle connection < 4 KB (%.0f bytes)', $per));
        cmp_ok($per_used, '<', 4096, sprintf('RSS per idle connection after one PING < 4 KB (%.0f bytes)', $per_used));
    }
    close $_ for @conns;
    ok(wait_for(sub { (info_field($obs, 'clients', 'connected_clients') // 0) == 1 }, 20), 'all closed');
    close $obs;
    stop_cordis($c);
    log_is_clean($c);
}

