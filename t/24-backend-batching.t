#!/usr/bin/perl
# Backend write batching: while a backend connection has requests awaiting
# replies, new requests gather and go out together once the last of those
# replies arrives, or at once when they fill a batch (64 KB). An idle
# connection sends at once. The backend here is a socket this test holds,
# so it decides when each reply goes back.
use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes ();

use CordisTest;

$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(60);

my $bport = CordisTest::free_port();
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $bport, Listen => 4,
                                   ReuseAddr => 1, Proto => 'tcp') or die "listen $bport: $!";
my $conf = write_conf(
    proxy   => { workers => 1 },
    backend => { ping_period => '0s' },
    groups  => [ [ 1, "127.0.0.1:$bport" ] ],
    slots   => [ [ '0-1023', 1 ] ],
);
my $cordis = start_cordis($conf);

# Reads from the backend side until $want requests are complete (or $secs
# pass); returns them and how many reads it took.
my $pending = '';
sub backend_read {
    my ($b, $want, $secs) = @_;
    my (@reqs, $reads);
    my $sel = IO::Select->new($b);
    my $until = Time::HiRes::time() + $secs;
    while (@reqs < $want) {
        my $left = $until - Time::HiRes::time();
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($b, $pending, 1 << 20, length $pending);
        last unless $n;
        $reads++;
        push @reqs, resp_take_requests(\$pending);
    }
    return (\@reqs, $reads // 0);
}

sub quiet_for {
    my ($b, $secs) = @_;
    return !IO::Select->new($b)->can_read($secs);
}

# --- an idle connection sends at once -------------------------------------------

my $a = resp_connect($conf->{port});
resp_send($a, 'GET', 'first');
my $b = do {
    my $sel = IO::Select->new($listen);
    $sel->can_read(5) or die "cordis did not connect to the backend\n";
    $listen->accept;
};
my ($got) = backend_read($b, 1, 5);
is_deeply($got, [ [ 'GET', 'first' ] ], 'a request on an idle connection goes out at once');

# --- requests behind one awaiting its reply wait for it, then go out together ---

my @clients = map { resp_connect($conf->{port}) } 1 .. 5;
resp_send($clients[$_], 'GET', "k$_") for 0 .. $#clients;
ok(quiet_for($b, 0.5), 'while GET first awaits its reply, the next requests are held');

syswrite($b, "\$1\r\nA\r\n");
is(resp_read($a), 'A', 'the first client gets its reply');
my ($batch, $reads) = backend_read($b, 5, 5);
is_deeply([ sort map { $_->[1] } @$batch ], [ map { "k$_" } 0 .. 4 ],
          'the held requests go out once the reply came back');
is($reads, 1, 'all five arrive in one write');
syswrite($b, join '', map { "\$2\r\nv$_\r\n" } 0 .. 4);
for my $i (0 .. 4) {
    # The replies follow the order the requests reached the backend.
    my $idx = (grep { $batch->[$_][1] eq "k$i" } 0 .. $#$batch)[0];
    is(resp_read($clients[$i]), "v$idx", "client $i gets the reply to its own request");
}

# --- a full batch goes out without waiting ---------------------------------------

resp_send($a, 'GET', 'slow');
($got) = backend_read($b, 1, 5);
is_deeply($got, [ [ 'GET', 'slow' ] ], 'GET slow went out');
my $big = 'x' x 100_000;
resp_send($clients[0], 'SET', 'big', $big);
($got) = backend_read($b, 1, 5);
is(scalar @$got, 1, 'a request past the batch size goes out while GET slow still awaits its reply');
ok(($got->[0][2] // '') eq $big, 'it arrives whole');
syswrite($b, "\$4\r\nSLOW\r\n+OK\r\n");
is(resp_read($a), 'SLOW', 'replies in order: GET slow');
is(resp_read($clients[0]), 'OK', 'then the SET');

# --- a lone client's pipeline is not held back beyond one round trip ----------------

resp_send($a, 'GET', 'p1');
($got) = backend_read($b, 1, 5);
syswrite($a, join '', map { resp_encode('GET', "p$_") } 2 .. 4);
ok(quiet_for($b, 0.2), 'pipelined requests behind p1 wait for its reply');
syswrite($b, "\$2\r\nP1\r\n");
($got) = backend_read($b, 3, 5);
is_deeply([ map { $_->[1] } @$got ], [ qw(p2 p3 p4) ], 'then go out in order');
syswrite($b, join '', map { "\$2\r\nP$_\r\n" } 2 .. 4);
is_deeply([ map { resp_read($a) } 1 .. 4 ], [ qw(P1 P2 P3 P4) ], 'the client gets all four in order');

close $_ for $a, @clients;
close $b;
stop_cordis($cordis);
log_is_clean_but($cordis, qr/connection closed by the backend/);
done_testing();
