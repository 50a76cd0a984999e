#!/usr/bin/perl
# The client side of RESP: deep pipelines, big and binary values, inline
# commands, protocol errors (Redis's text, then the connection closes, and
# nobody else is hurt), huge declared lengths, HTTP, trickled requests.
#
# cordis runs one worker here so every client shares it (a crash or a leak
# in one client's handling would show in the others).
use strict;
use warnings;

use IO::Select;
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes ();

use CordisTest;

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(120);

my $r1  = start_redis();
my $r2  = start_redis();
my $ref = start_redis();

my $conf = write_conf(
    proxy  => { workers => 1 },
    groups => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$r2->{port}" ] ],
    slots  => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
);
my $cordis = start_cordis($conf);
my ($worker) = wait_for(sub { my @w = worker_pids($cordis); @w == 1 ? $w[0] : 0 }, 10);
ok($worker, "one worker ($worker)");


sub wait_child {
    my ($pid) = @_;
    waitpid($pid, 0);
    return $? >> 8;
}

# Sends raw bytes on a fresh connection and reads until the server closes
# (or $t seconds pass). Returns (bytes, closed?).
sub raw {
    my ($port, $bytes, $t) = @_;
    my $s = resp_connect($port);
    syswrite($s, $bytes) if length $bytes;
    my @r = read_until_eof($s, $t // 5);
    close $s;
    return @r;
}


# A client that stays connected through everything and must stay healthy.
my $other = resp_connect($conf->{port});
is(resp_cmd($other, 'SET', 'other', 'still here'), 'OK', 'bystander client connected');
sub bystander_ok {
    my ($why) = @_;
    is(resp_cmd($other, 'GET', 'other'), 'still here', "bystander unaffected: $why");
}

# --- deep pipelines -----------------------------------------------------------

{
    my $s = resp_connect($conf->{port});
    my $bytes = join '', map { resp_encode('SET', "k$_", "v$_") . resp_encode('GET', "k$_") } 1 .. 5000;
    my $pid = send_bg($s, $bytes);
    my ($bad, $n) = (0, 0);
    for my $i (1 .. 5000) {
        my $set = resp_read($s);
        my $get = resp_read($s);
        $n += 2;
        $bad++ unless $set eq 'OK' && defined $get && $get eq "v$i";
    }
    is(wait_child($pid), 0, '10000 commands written in one go');
    is($n, 10000, '10000 replies');
    is($bad, 0, 'SET/GET pairs come back in order');

    $pid = send_bg($s, resp_encode('INCR', 'pipe:counter') x 10000);
    my @replies = map { resp_read($s) } 1 .. 10000;
    wait_child($pid);
    is_deeply(\@replies, [ 1 .. 10000 ], 'INCR x 10000 pipelined: 1..10000 in order');

    # Interleaved groups, local commands and errors keep their order too.
    my @cmds;
    for my $i (1 .. 2000) {
        push @cmds, [ 'GET', "k$i" ], [ 'PING', "p$i" ], [ 'ECHO', "e$i" ], [ 'MGET', "k$i", 'foo', "k" . ($i + 1) ],
                    [ 'NOSUCH', $i ];
    }
    $pid = send_bg($s, join '', map { resp_encode(@$_) } @cmds);
    my $wrong = 0;
    for my $i (1 .. 2000) {
        my @r = map { resp_read($s) } 1 .. 5;
        my $next = $i + 1 <= 5000 ? 'v' . ($i + 1) : undef;
        $wrong++ unless $r[0] eq "v$i" && $r[1] eq "p$i" && $r[2] eq "e$i"
            && eq_array($r[3], [ "v$i", undef, $next ])
            && ref $r[4] eq 'HASH' && $r[4]{err} =~ /^ERR unknown command 'NOSUCH', with args beginning with: '$i' $/;
    }
    wait_child($pid);
    is($wrong, 0, '10000 mixed commands (forwarded, local, split, errors) in order');
    close $s;
}

# --- a client that leaves with requests in flight -------------------------------

{
    for my $round (1 .. 3) {
        my $s = resp_connect($conf->{port});
        my $bytes = join '', map {
            resp_encode('GET', "k$_") . resp_encode('MGET', "k$_", 'foo', 'a', 'b') . resp_encode('DEL', "gone:$_", "gone:x$_")
              . resp_encode('INFO', 'keyspace') . resp_encode('PING')
        } 1 .. 1000;
        syswrite($s, $bytes);
        close $s;    # gone before most replies are back
    }
    bystander_ok('clients closed with 15000 requests in flight');
    is_deeply([ worker_pids($cordis) ], [$worker], 'the worker is the same one');
    is(resp_cmd($other, 'GET', 'k1'), 'v1', 'backends still in step');
}

# --- big and binary values ------------------------------------------------------

{
    my $s = resp_connect($conf->{port});
    my $big = join '', map { chr(($_ * 7 + ($_ >> 8)) % 256) } 0 .. 65535;
    $big = $big x 128;   # 8 MB, every byte value
    is(length $big, 8 * 1024 * 1024, '8 MB value');
    my $pid = send_bg($s, resp_encode('SET', 'big', $big));
    is(resp_read($s), 'OK', 'SET of 8 MB');
    wait_child($pid);
    my $got = resp_cmd($s, 'GET', 'big');
    ok(defined $got && $got eq $big, '8 MB value round-trips byte-exact');
    is(resp_cmd($s, 'STRLEN', 'big'), length $big, 'STRLEN of it');
    my $port = codis_slot('big') < 512 ? $r1->{port} : $r2->{port};
    ok(redis_cmd($port, 'GET', 'big') eq $big, 'the backend holds the same bytes');
    # Twice in one pipeline, with a small request between.
    print $s resp_encode('GET', 'big') . resp_encode('PING') . resp_encode('GET', 'big');
    my @r = map { resp_read($s) } 1 .. 3;
    ok($r[0] eq $big && $r[1] eq 'PONG' && $r[2] eq $big, 'two 8 MB replies pipelined around a PING');

    my @bin = ("a\0b", "\r\n", "x\r\n\$3\r\nfoo\r\n", "\0", "\xff\xfe{\0}\r", "*1\r\n", "\n", join('', map { chr } 0 .. 255));
    for my $i (0 .. $#bin) {
        my ($k, $v) = ($bin[$i], $bin[ $#bin - $i ] . "\0end\r\n");
        is(resp_cmd($s, 'SET', $k, $v), 'OK', "SET binary key $i");
        is(resp_cmd($s, 'GET', $k), $v, "GET binary key $i: value byte-exact");
        my $bp = codis_slot($k) < 512 ? $r1->{port} : $r2->{port};
        is(redis_cmd($bp, 'GET', $k), $v, "binary key $i is on the group of its slot");
    }
    is_deeply(resp_cmd($s, 'MGET', @bin), [ map { $bin[ $#bin - $_ ] . "\0end\r\n" } 0 .. $#bin ],
              'MGET over binary keys');
    is(resp_cmd($s, 'SET', '', 'empty key'), 'OK', 'SET of the empty key');
    is(resp_cmd($s, 'GET', ''), 'empty key', 'GET of the empty key');
    is(resp_cmd($s, 'SET', 'empty value', ''), 'OK', 'SET of an empty value');
    is(resp_cmd($s, 'GET', 'empty value'), '', 'GET of an empty value');
    close $s;
}

# --- inline commands --------------------------------------------------------------

{
    # The same bytes to cordis and to a plain Redis: the same replies.
    my @cases = (
        [ "SET a b\r\n",                        1 ],
        [ "GET a\r\n",                          1 ],
        [ "SET \"a b\" 'c d'\r\n",              1 ],
        [ "GET \"a b\"\r\n",                    1 ],
        [ "SET q \"x\\r\\ny\\x41\\t\"\r\n",    1 ],
        [ "GET q\r\n",                          1 ],
        [ "  GET   a  \r\n",                    1 ],
        [ "GET a\n",                            1 ],
        [ "ping\r\nPING hi\r\n",                2 ],
        [ "*-1\r\n\r\n\r\nPING\r\n",            1 ],
        [ "*0\r\nPING\r\n",                     1 ],
        [ "\r\n\r\n*1\r\n\$4\r\nPING\r\n",      1 ],
        [ "MGET a \"a b\" q nope\r\n",          1 ],
        [ "DEL a \"a b\" q\r\n",                1 ],
        [ "nosuch x y\r\n",                     1 ],
    );
    my $s = resp_connect($conf->{port});
    my $rs = resp_connect($ref->{port});
    for my $c (@cases) {
        my ($bytes, $n) = @$c;
        print $s $bytes;
        print $rs $bytes;
        my @got = map { resp_read($s) } 1 .. $n;
        my @want = map { resp_read($rs) } 1 .. $n;
        (my $show = $bytes) =~ s/([^ -~])/sprintf '\\x%02x', ord $1/ge;
        is_deeply(\@got, \@want, "inline: $show") or diag explain { cordis => \@got, redis => \@want };
    }
    is(resp_cmd($s, 'GET', 'a b'), undef, 'inline DEL removed "a b"');
    print $s "SET \"a b\" 'c d'\r\n";
    resp_read($s);
    is(resp_cmd($s, 'GET', 'a b'), 'c d', 'inline quoted key and value stored as one argument each');
    is(resp_cmd($s, 'PING'), 'PONG', 'skipped *-1 and empty lines left nothing behind');
    close $s;
    close $rs;
}

# --- protocol errors: Redis's text, then close ------------------------------------

{
    my $inline = 'a' x (70 * 1024);
    my @cases = (
        [ "*x\r\n",              'Protocol error: invalid multibulk length' ],
        [ "*1\r\n\$x\r\n",       'Protocol error: invalid bulk length' ],
        [ "*1\r\nfoo\r\n",       "Protocol error: expected '\$', got 'f'" ],
        [ "\"abc\r\n",           'Protocol error: unbalanced quotes in request' ],
        [ $inline,               'Protocol error: too big inline request' ],
        [ "*1\r\n\$-5\r\n",      'Protocol error: invalid bulk length' ],
        [ "*3000000000\r\n",     'Protocol error: invalid multibulk length' ],
        [ "*1\r\n\$600000000\r\n", 'Protocol error: invalid bulk length' ],
    );
    for my $c (@cases) {
        my ($bytes, $text) = @$c;
        (my $show = substr($bytes, 0, 24)) =~ s/([^ -~])/sprintf '\\x%02x', ord $1/ge;
        my ($got, $closed) = raw($conf->{port}, $bytes);
        is($got, "-ERR $text\r\n", "$show: -ERR $text");
        ok($closed, "$show: connection closed");
        my ($want) = raw($ref->{port}, $bytes);
        is($got, $want, "$show: as Redis answers");
        bystander_ok($show);
    }

    # Replies to what came before the bad request still go out first.
    my $s = resp_connect($conf->{port});
    syswrite($s, resp_encode('SET', 'before', 'err') . resp_encode('GET', 'before') . "PING\r\n*1\r\nfoo\r\n" . resp_encode('SET', 'after', 1));
    my ($got, $closed) = read_until_eof($s, 5);
    is($got, "+OK\r\n\$3\r\nerr\r\n+PONG\r\n-ERR Protocol error: expected '\$', got 'f'\r\n",
       'replies before a protocol error, then the error');
    ok($closed, 'then the close');
    close $s;
    is(resp_cmd($other, 'EXISTS', 'after'), 0, 'nothing after the bad request ran');
}

# --- HTTP ---------------------------------------------------------------------------

{
    my ($got, $closed) = raw($conf->{port}, "POST / HTTP/1.1\r\nHost: example\r\n\r\n");
    is($got, '', 'POST: no reply');
    ok($closed, 'POST: connection closed');
    ($got, $closed) = raw($conf->{port}, "Host: example\r\n");
    is($got, '', 'Host: line: no reply');
    ok($closed, 'Host: line: connection closed');
    ($got, $closed) = raw($conf->{port}, "POST / HTTP/1.1\r\n");
    ok($closed && $got eq '', 'POST line alone: closed, no reply');
    bystander_ok('HTTP');
}

# --- a request trickling in ---------------------------------------------------------

{
    my $s = resp_connect($conf->{port});
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    my $cmd = resp_encode('SET', 'split', 'x' x 19);
    is(length $cmd, 50, 'a 50-byte request');
    for my $i (0 .. 49) {
        syswrite($s, substr($cmd, $i, 1));
        Time::HiRes::sleep(0.002);   # let each byte arrive on its own
    }
    is(resp_read($s), 'OK', 'request split over 50 writes works');
    my $two = "GET split\r\n" . resp_encode('GET', 'split');
    for my $i (0 .. length($two) - 1) {
        syswrite($s, substr($two, $i, 1));
        Time::HiRes::sleep(0.002);
    }
    is(resp_read($s), 'x' x 19, 'inline request byte by byte');
    is(resp_read($s), 'x' x 19, 'then a multibulk one');
    # A bulk that arrives in two halves far apart.
    my $v = 'y' x 100000;
    my $b = resp_encode('SET', 'split2', $v);
    syswrite($s, substr($b, 0, 50000));
    Time::HiRes::sleep(0.05);
    is(resp_read_or_closed($s, 0.2), 'timeout', 'nothing answered for half a request');
    my $off = 50000;
    while ($off < length $b) { $off += syswrite($s, $b, length($b) - $off, $off) }
    is(resp_read($s), 'OK', 'second half completes it');
    is(resp_cmd($s, 'STRLEN', 'split2'), 100000, 'value whole');
    close $s;
}

# --- a huge declared length -----------------------------------------------------------

{
    my $rss0 = proc_rss_kb($worker);
    ok($rss0, "worker RSS before: $rss0 kB");
    my $s = resp_connect($conf->{port});
    syswrite($s, "*2000000000\r\n");
    is(resp_read_or_closed($s, 0.3), 'timeout', '*2000000000: waits for the arguments (as Redis does)');
    syswrite($s, "\$3\r\nGET\r\n\$1\r\na\r\n" x 100);
    is(resp_read_or_closed($s, 0.3), 'timeout', 'still waiting after 200 arguments');
    bystander_ok('*2000000000');
    my $rss1 = proc_rss_kb($worker);
    cmp_ok($rss1 - $rss0, '<', 20 * 1024, "worker RSS did not jump ($rss0 -> $rss1 kB)");
    my $s2 = resp_connect($conf->{port});
    syswrite($s2, "*1\r\n\$500000000\r\n");
    is(resp_read_or_closed($s2, 0.3), 'timeout', '$500000000 (under the 512 MB limit): waits');
    syswrite($s2, 'z' x 65536);
    my $rss2 = proc_rss_kb($worker);
    cmp_ok($rss2 - $rss0, '<', 20 * 1024, "worker RSS did not jump for a 500 MB declared bulk ($rss0 -> $rss2 kB)");
    close $s;
    close $s2;
    ok(wait_for(sub {
        my $info = resp_cmd($other, 'INFO', 'clients');
        ($info =~ /connected_clients:(\d+)/)[0] == 1;
    }, 5), 'closing those clients frees them (connected_clients back to 1)');
    is_deeply([ worker_pids($cordis) ], [$worker], 'the worker did not die or respawn');
    bystander_ok('after huge lengths');
}

close $other;
stop_cordis($cordis);
log_is_clean($cordis);

# --- before AUTH: small limits ------------------------------------------------------

{
    my $aconf = write_conf(
        name    => 'auth.conf',
        proxy   => { workers => 1 },
        groups  => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$r2->{port}" ] ],
        slots   => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
        session => { auth => 'x' },
    );
    my $c = start_cordis($aconf);
    my ($got, $closed) = raw($aconf->{port}, "*11\r\n");
    is($got, "-ERR Protocol error: unauthenticated multibulk length\r\n", 'unauthenticated *11: error');
    ok($closed, 'unauthenticated *11: closed');
    ($got, $closed) = raw($aconf->{port}, "*2\r\n\$4\r\nAUTH\r\n\$20000\r\n");
    is($got, "-ERR Protocol error: unauthenticated bulk length\r\n", 'unauthenticated 20000-byte bulk: error');
    ok($closed, 'unauthenticated big bulk: closed');
    my $s = resp_connect($aconf->{port});
    is_deeply(resp_cmd($s, 'GET', 'k'), { err => 'NOAUTH Authentication required.' }, 'NOAUTH first');
    is(resp_cmd($s, 'AUTH', 'x'), 'OK', 'AUTH x');
    is_deeply(resp_cmd($s, 'MGET', map { "auth:$_" } 1 .. 11), [ (undef) x 11 ], 'after AUTH: 12 arguments accepted');
    is(resp_cmd($s, 'SET', 'auth:big', 'b' x 20000), 'OK', 'after AUTH: 20000-byte bulk accepted');
    close $s;
    stop_cordis($c);
    log_is_clean($c);
}

done_testing();
