#!/usr/bin/perl
# INFO and CLIENT against three real redis-server groups (slots 0-340 ->
# group 1, 341-681 -> group 2, 682-1023 -> group 3) and two workers.
#
# INFO: the lowest backend redis_version (with a fake 6.2.1 backend for the
# rule itself), cordis's own server/clients/stats figures, Redis 7's section
# names and order, and the merged figures (keyspace, memory, stats,
# persistence, errorstats) compared with what the backends say at the same
# moment; the Cordis section per group, and a group that is down.
# CLIENT: LIST/INFO over both workers in Redis 7.0's format, the TYPE and ID
# filters, KILL by every filter across workers, REPLY OFF/SKIP as byte
# streams compared with a reference redis-server, and the small subcommands.
# HELLO reports the version INFO found.
use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use CordisTest;

plan tests => 171;
$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(100);
$SIG{PIPE} = 'IGNORE';
my $t_begin = time;

my @R   = map { start_redis() } 1 .. 3;     # group g is $R[g - 1]
my $ref = start_redis();                    # one Redis, the reference
my @P   = map { $_->{port} } @R;

# --- a fake backend: PING, INFO (as Redis 6.2.1 with 5 keys), else +OK ---------

my $FAKE_INFO = "# Server\r\nredis_version:6.2.1\r\nredis_mode:standalone\r\n"
              . "process_id:1\r\n\r\n# Clients\r\nconnected_clients:1\r\n\r\n"
              . "# Memory\r\nused_memory:1048576\r\n\r\n# Persistence\r\nloading:0\r\n\r\n"
              . "# Replication\r\nrole:master\r\n\r\n"
              . "# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n";

sub start_fake {
    my $port = free_port();
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp',
                                  Listen => 64, ReuseAddr => 1)
        or die "fake backend: listen on $port: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{ALRM} = 'DEFAULT';
        $SIG{__DIE__} = 'DEFAULT';
        $SIG{TERM} = sub { POSIX::_exit(0) };
        alarm(150);    # never outlives the test
        eval {
            my $sel = IO::Select->new($l);
            my %buf;
            while (1) {
                for my $fh ($sel->can_read(1)) {
                    if ($fh == $l) {
                        my $c = $l->accept or next;
                        $sel->add($c);
                        $buf{ fileno $c } = '';
                        next;
                    }
                    my $n = sysread($fh, $buf{ fileno $fh }, 65536, length $buf{ fileno $fh });
                    if (!$n) {
                        $sel->remove($fh);
                        delete $buf{ fileno $fh };
                        close $fh;
                        next;
                    }
                    my $out = '';
                    for my $req (resp_take_requests(\$buf{ fileno $fh })) {
                        my $cmd = uc($req->[0] // '');
                        $out .= $cmd eq 'PING' ? "+PONG\r\n"
                              : $cmd eq 'INFO' ? '$' . length($FAKE_INFO) . "\r\n$FAKE_INFO\r\n"
                              : "+OK\r\n";
                    }
                    syswrite($fh, $out) if length $out;
                }
            }
        };
        POSIX::_exit(0);
    }
    close $l;
    stop_at_exit($pid);
    return { port => $port, pid => $pid };
}
my $fake = start_fake();

# --- cordis A: three groups, two workers, max_clients 777 ------------------------

my $t_start = time;    # before the master starts
my $conf = write_conf_in('a',
    groups => [ map { [ $_, "127.0.0.1:$P[$_ - 1]" ] } 1 .. 3 ],
    slots  => [ [ '0-340', 1 ], [ '341-681', 2 ], [ '682-1023', 3 ] ],
    proxy  => { workers => 2, max_clients => 777 },
);
my $cordis = start_cordis($conf);
my $t_ready = time;
my $port = $conf->{port};

# --- cordis B: group 1 a real Redis, group 2 the fake 6.2.1 ------------------------

my $confb = write_conf_in('b',
    groups => [ [ 1, "127.0.0.1:$P[0]" ], [ 2, "127.0.0.1:$fake->{port}" ] ],
    slots  => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
    proxy  => { workers => 2 },
);
my $cordisb = start_cordis($confb);

# --- helpers ----------------------------------------------------------------------

# The group (1, 2, 3) of a key in the three-group layout.
sub g3 {
    my $s = codis_slot($_[0]);
    return $s <= 340 ? 1 : $s <= 681 ? 2 : 3;
}

# The n-th key "prefix:i" of group g.
sub key3 {
    my ($prefix, $g, $n) = @_;
    $n //= 0;
    for my $i (0 .. 100000) {
        my $k = "$prefix:$i";
        next unless g3($k) == $g;
        return $k if $n-- == 0;
    }
    die "no key for $prefix in group $g";
}

# Direct connections to the backends (for their own INFO).
my @D = map { resp_connect($_) } @P;
sub dcmd { my ($g, @cmd) = @_; return resp_cmd($D[$g - 1], @cmd) }

# INFO text -> { section => { key => value } } (sections in lower case).
sub info_parse {
    my ($text) = @_;
    my (%h, $sec);
    for my $line (split /\r?\n/, $text // '') {
        if ($line =~ /^# (\S+)/) { $sec = lc $1; $h{$sec} //= {}; next }
        next unless $line =~ /^([^:]+):(.*)$/ && defined $sec;
        $h{$sec}{$1} = $2;
    }
    return \%h;
}

# The section titles of an INFO text, in order.
sub headers { return [ ($_[0] // '') =~ /^# (\S+)\r$/mg ] }

# A field of every backend's INFO (one INFO each), or their sum.
sub backend_infos { my (@sec) = @_; return [ map { info_parse(dcmd($_, 'INFO', @sec)) } 1 .. 3 ] }
sub bsum {
    my ($infos, $sec, $key, @g) = @_;
    @g = (1 .. 3) unless @g;
    my $sum = 0;
    $sum += $infos->[ $_ - 1 ]{$sec}{$key} // 0 for @g;
    return $sum;
}

# db line "keys=N,expires=M,avg_ttl=T" -> (N, M).
sub dbkv {
    my ($v) = @_;
    return (0, 0) unless defined $v;
    my ($k, $e) = $v =~ /^keys=(\d+),expires=(\d+),avg_ttl=\d+$/ or return (-1, -1);
    return ($k, $e);
}

# Redis's bytesToHuman.
sub human {
    my ($n) = @_;
    return "${n}B" if $n < 1024;
    my @u = qw(K M G T P);
    my $i = 0;
    my $v = $n / 1024;
    while ($v >= 1024 && $i < $#u) { $v /= 1024; $i++ }
    return sprintf('%.2f%s', $v, $u[$i]);
}

# The worker's stats row of a client id (its low 8 bits).
sub row_of { return $_[0] % 256 }

# One connection on each of the two workers of a cordis: (conn0, conn1),
# on different rows. Extra connections made on the way are closed.
sub conns_on_both {
    my ($p) = @_;
    my (%by_row, @extra);
    for (1 .. 80) {
        my $s = resp_connect($p);
        my $row = row_of(resp_cmd($s, 'CLIENT', 'ID'));
        if ($by_row{$row}) { push @extra, $s } else { $by_row{$row} = $s }
        last if keys %by_row >= 2;
    }
    close $_ for @extra;
    die "connections did not reach two workers" unless keys %by_row >= 2;
    return map { $by_row{$_} } sort { $a <=> $b } keys %by_row;
}

# Reads raw bytes until they end with $tail (or 5 s pass).
sub read_until_tail {
    my ($s, $tail) = @_;
    my $sel = IO::Select->new($s);
    my $buf = '';
    my $end = time + 2;
    while (time < $end && substr($buf, -length $tail) ne $tail) {
        last unless $sel->can_read($end - time);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    return $buf;
}

# The same pipeline to cordis and to the reference, raw byte streams back:
# until EOF when the pipeline ends with QUIT, else until the reply of a
# final PING.
sub same_stream {
    my ($name, @cmds) = @_;
    my $quit = uc $cmds[-1][0] eq 'QUIT';
    push @cmds, ['PING'] unless $quit;
    my @got;
    for my $p ($port, $ref->{port}) {
        my $s = resp_connect($p);
        syswrite($s, join('', map { resp_encode(@$_) } @cmds));
        push @got, $quit ? (read_until_eof($s, 2))[0] : read_until_tail($s, "+PONG\r\n");
        close $s;
    }
    (my $show_c = $got[0]) =~ s/\r\n/\\r\\n/g;
    (my $show_r = $got[1]) =~ s/\r\n/\\r\\n/g;
    is($show_c, $show_r, "$name: byte stream as Redis's");
    return $got[0];
}

my $cs = resp_connect($port);

# ======================================================================
# Commandstats and Latencystats on a fresh cordis: 7 GETs
# ======================================================================
{
    my $s = resp_connect($port);
    resp_cmd($s, 'GET', key3('cs', 1 + $_ % 3, $_)) for 0 .. 6;
    my $rr = resp_connect($ref->{port});
    resp_cmd($rr, 'GET', "cs:$_") for 0 .. 6;
    my $cmdre = qr/^cmdstat_get:calls=7,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=0\r$/m;
    my $latre = qr/^latency_percentiles_usec_get:p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}\r$/m;
    my $c = resp_cmd($s, 'INFO', 'commandstats');
    like($c, $cmdre, 'INFO commandstats: cmdstat_get:calls=7 with usec, usec_per_call, rejected_calls, failed_calls');
    like(resp_cmd($rr, 'INFO', 'commandstats'), $cmdre, 'the same line format from Redis itself');
    is_deeply(headers($c), ['Commandstats'], 'INFO commandstats: that section only');
    my $l = resp_cmd($s, 'INFO', 'latencystats');
    like($l, $latre, 'INFO latencystats: latency_percentiles_usec_get:p50=,p99=,p99.9=');
    like(resp_cmd($rr, 'INFO', 'latencystats'), $latre, 'the same line format from Redis itself');
    close $s;
    close $rr;
}

# ======================================================================
# INFO server: version, pid, run_id; HELLO after INFO
# ======================================================================
my $version;
{
    my @bv = map { info_parse(dcmd($_, 'INFO', 'server'))->{server}{redis_version} } 1 .. 3;
    my ($w0, $w1) = conns_on_both($port);
    # INFO on one worker only; HELLO on the other, then on this one.
    my $i0 = info_parse(resp_cmd($w0, 'INFO', 'server'))->{server};
    $version = $i0->{redis_version} // '';
    my %hb = @{ resp_cmd($w1, 'HELLO', 2) };
    is($hb{version}, $version, 'HELLO 2 on the other worker, after an INFO on one: INFO\'s redis_version');
    my %ha = @{ resp_cmd($w0, 'HELLO', 2) };
    is($ha{version}, $version, 'HELLO 2 on the worker that ran INFO: INFO\'s redis_version');
    my $i1 = info_parse(resp_cmd($w1, 'INFO', 'server'))->{server};
    is($version, $bv[0], "redis_version is the backends' ($bv[0])");
    is_deeply([ @bv[1, 2] ], [ $bv[0], $bv[0] ], 'all three backends run the same version');
    is($i1->{redis_version}, $version, 'the same redis_version on the other worker');
    is($i0->{process_id}, $cordis->{pid}, 'process_id is the master pid');
    is($i1->{process_id}, $cordis->{pid}, 'process_id is the master pid on the other worker too');
    like($i0->{run_id} // '', qr/^[0-9a-f]{40}$/, 'run_id: 40 hex digits');
    is($i1->{run_id}, $i0->{run_id}, 'run_id is the same on both workers');
    is($i0->{tcp_port}, $port, 'tcp_port is the proxy port');

    # A connection on a worker where INFO has not run since it opened.
    my ($n0, $n1) = conns_on_both($port);
    my %h0 = @{ resp_cmd($n0, 'HELLO', 2) };
    my %h1 = @{ resp_cmd($n1, 'HELLO', 2) };
    is_deeply([ $h0{version}, $h1{version} ], [ $version, $version ],
              'HELLO 2 on fresh connections of both workers: the same version');
    close $_ for $w0, $w1, $n0, $n1;
}

# ======================================================================
# INFO sections: names and order as Redis 7's
# ======================================================================
{
    my @default = qw(Server Clients Memory Persistence Stats Replication CPU Modules Errorstats
                     Cluster Keyspace Cordis);
    my @all = qw(Server Clients Memory Persistence Stats Replication CPU Modules Commandstats
                 Errorstats Latencystats Cluster Keyspace Cordis);
    my $rr = resp_connect($ref->{port});
    my $d = resp_cmd($cs, 'INFO');
    is_deeply(headers($d), \@default, 'INFO: the default sections in order');
    is_deeply([ @{ headers($d) }[0 .. 10] ], headers(resp_cmd($rr, 'INFO')),
              "INFO: default sections as Redis's, then Cordis");
    is_deeply(headers(resp_cmd($cs, 'INFO', 'default')), \@default, 'INFO default');
    my $all = resp_cmd($cs, 'INFO', 'all');
    is_deeply(headers($all), \@all, 'INFO all: adds Commandstats and Latencystats in place');
    is_deeply(headers(resp_cmd($cs, 'INFO', 'everything')), \@all, 'INFO everything');
    is_deeply([ @{ headers($all) }[0 .. 12] ], headers(resp_cmd($rr, 'INFO', 'everything')),
              "INFO everything: order as Redis's, then Cordis");
    is_deeply(headers(resp_cmd($cs, 'INFO', 'server', 'clients')), [qw(Server Clients)],
              'INFO server clients: exactly those');
    is_deeply(headers(resp_cmd($cs, 'INFO', 'CLIENTS', 'server')), [qw(Server Clients)],
              'INFO CLIENTS server: in Redis order, any case');
    my $ks = resp_cmd($cs, 'INFO', 'keyspace');
    is_deeply(headers($ks), ['Keyspace'], 'INFO keyspace: exactly that');
    like($ks, qr/^# Keyspace\r\n/, 'INFO keyspace: starts with its title');
    is_deeply(headers(resp_cmd($cs, 'INFO', 'cordis')), ['Cordis'], 'INFO cordis: exactly that');
    is(resp_cmd($cs, 'INFO', 'nosuchsection'), '', 'INFO nosuchsection: an empty bulk string');
    is(resp_cmd($rr, 'INFO', 'nosuchsection'), '', '... as Redis answers');
    close $rr;
}

# ======================================================================
# Keyspace, expired_keys, keyspace hits/misses, errorstats
# ======================================================================
my @db0_keys;
{
    # db 0: 30 keys, 9 with a TTL; db 3: 12 keys, 4 with a TTL.
    for my $i (0 .. 29) {
        my $k = key3('ks0', 1 + $i % 3, int($i / 3));
        push @db0_keys, $k;
        resp_cmd($cs, 'SET', $k, "v$i", ($i % 10 < 3 ? ('EX', 1000) : ()));
    }
    is(resp_cmd($cs, 'SELECT', 3), 'OK', 'SELECT 3');
    resp_cmd($cs, 'SET', key3('ks3', 1 + $_ % 3, int($_ / 3)), "w$_", ($_ < 4 ? ('EX', 1000) : ()))
        for 0 .. 11;
    resp_cmd($cs, 'SELECT', 0);

    my $c = info_parse(resp_cmd($cs, 'INFO', 'keyspace'))->{keyspace};
    my $b = backend_infos('keyspace');
    my (%sum);
    for my $g (1 .. 3) {
        for my $db ('db0', 'db3') {
            my ($k, $e) = dbkv($b->[ $g - 1 ]{keyspace}{$db});
            $sum{$db}{keys} += $k;
            $sum{$db}{expires} += $e;
        }
    }
    my ($k0, $e0) = dbkv($c->{db0});
    my ($k3, $e3) = dbkv($c->{db3});
    is($k0, $sum{db0}{keys}, "Keyspace db0 keys is the backends' sum ($sum{db0}{keys})");
    is($e0, $sum{db0}{expires}, "Keyspace db0 expires is the backends' sum ($sum{db0}{expires})");
    is($k3, $sum{db3}{keys}, "Keyspace db3 keys is the backends' sum ($sum{db3}{keys})");
    is($e3, $sum{db3}{expires}, "Keyspace db3 expires is the backends' sum ($sum{db3}{expires})");
    is_deeply([ $k0, $e0, $k3, $e3 ], [ 30, 9, 12, 4 ], 'and those are the keys written');
    is_deeply([ sort keys %$c ], [ 'db0', 'db3' ], 'Keyspace: only the databases that have keys');

    # expired_keys: six keys with a short TTL, read after they expired.
    my @short = map { key3('exp', 1 + $_ % 3, int($_ / 3)) } 0 .. 5;
    resp_cmd($cs, 'SET', $_, 'x', 'PX', 20) for @short;
    sleep 0.15;
    my @got = map { resp_cmd($cs, 'GET', $_) } @short;
    is_deeply(\@got, [ (undef) x 6 ], 'the short-lived keys are gone');
    my $st = info_parse(resp_cmd($cs, 'INFO', 'stats'))->{stats};
    my $bs = backend_infos('stats');
    is($st->{expired_keys}, bsum($bs, 'stats', 'expired_keys'),
       'Stats expired_keys is the backends\' sum (' . bsum($bs, 'stats', 'expired_keys') . ')');
    cmp_ok($st->{expired_keys} // 0, '>=', 6, 'expired_keys counts the six');

    # keyspace_hits/misses: 4 hits and 3 misses through cordis.
    my $before = info_parse(resp_cmd($cs, 'INFO', 'stats'))->{stats};
    resp_cmd($cs, 'GET', $db0_keys[$_]) for 0 .. 3;
    resp_cmd($cs, 'GET', key3('miss', 1 + $_ % 3)) for 0 .. 2;
    my $after = info_parse(resp_cmd($cs, 'INFO', 'stats'))->{stats};
    $bs = backend_infos('stats');
    is($after->{keyspace_hits} - $before->{keyspace_hits}, 4, 'keyspace_hits grew by the 4 hits');
    is($after->{keyspace_misses} - $before->{keyspace_misses}, 3, 'keyspace_misses grew by the 3 misses');
    is($after->{keyspace_hits}, bsum($bs, 'stats', 'keyspace_hits'), "keyspace_hits is the backends' sum");
    is($after->{keyspace_misses}, bsum($bs, 'stats', 'keyspace_misses'), "keyspace_misses is the backends' sum");

    # total_commands_processed: cordis's count, as Redis counts (the first
    # INFO and the commands after it; not the INFO that answers).
    my $rr = resp_connect($ref->{port});
    my @deltas;
    for my $s ($cs, $rr) {
        my $t1 = info_parse(resp_cmd($s, 'INFO', 'stats'))->{stats}{total_commands_processed};
        resp_cmd($s, 'PING') for 1 .. 9;
        resp_cmd($s, 'ECHO', 'x');
        my $t2 = info_parse(resp_cmd($s, 'INFO', 'stats'))->{stats}{total_commands_processed};
        push @deltas, $t2 - $t1;
    }
    is($deltas[0], 11, 'total_commands_processed grew by the 10 commands and the first INFO');
    is($deltas[0], $deltas[1], '... as Redis counts');
    # And it is the sum of Commandstats' calls, as in Redis.
    for my $pair ([ $cs, 'cordis' ], [ $rr, 'Redis' ]) {
        my $all = info_parse(resp_cmd($pair->[0], 'INFO', 'all'));
        my $calls = 0;
        $calls += ($_ =~ /^calls=(\d+),/)[0] for values %{ $all->{commandstats} };
        is($all->{stats}{total_commands_processed}, $calls,
           "$pair->[1]: total_commands_processed is the sum of the cmdstat calls ($calls)");
    }
    close $rr;

    # total_connections_received: cordis's own.
    my $c1 = info_parse(resp_cmd($cs, 'INFO', 'stats'))->{stats}{total_connections_received};
    my $bc1 = bsum(backend_infos('stats'), 'stats', 'total_connections_received');
    for (1 .. 3) {
        my $s = resp_connect($port);
        resp_cmd($s, 'PING');
        close $s;
    }
    my $c2 = info_parse(resp_cmd($cs, 'INFO', 'stats'))->{stats}{total_connections_received};
    my $bc2 = bsum(backend_infos('stats'), 'stats', 'total_connections_received');
    is($c2 - $c1, 3, 'total_connections_received grew by the 3 connections');
    is($bc2 - $bc1, 0, "the backends' total_connections_received did not move: the figure is cordis's");

    # Persistence.
    my $pe = info_parse(resp_cmd($cs, 'INFO', 'persistence'))->{persistence};
    is($pe->{rdb_bgsave_in_progress}, '0', 'Persistence rdb_bgsave_in_progress:0');
    is($pe->{loading}, '0', 'Persistence loading:0');

    # Errorstats: WRONGTYPE on two groups.
    my $es0 = info_parse(resp_cmd($cs, 'INFO', 'errorstats'))->{errorstats};
    is($es0->{errorstat_WRONGTYPE}, undef, 'no WRONGTYPE yet');
    my $g0 = info_parse(resp_cmd($cs, 'INFO', 'commandstats'))->{commandstats}{cmdstat_get} // '';
    for my $g (1, 2) {
        my $k = key3('list', $g);
        resp_cmd($cs, 'RPUSH', $k, 'a');
        like(resp_cmd($cs, 'GET', $k)->{err} // '', qr/^WRONGTYPE /, "GET on a list in group $g: WRONGTYPE");
    }
    my $e1 = info_parse(resp_cmd($cs, 'INFO', 'errorstats'))->{errorstats};
    my $be = backend_infos('errorstats');
    my $bw = 0;
    for my $g (1 .. 3) {
        my ($n) = ($be->[ $g - 1 ]{errorstats}{errorstat_WRONGTYPE} // 'count=0') =~ /count=(\d+)/;
        $bw += $n;
    }
    is($e1->{errorstat_WRONGTYPE}, "count=$bw", "errorstat_WRONGTYPE:count is the backends' sum ($bw)");
    is($bw, 2, 'two WRONGTYPEs, on two groups');
    my $g1 = info_parse(resp_cmd($cs, 'INFO', 'commandstats'))->{commandstats}{cmdstat_get} // '';
    my ($f0) = $g0 =~ /failed_calls=(\d+)/;
    my ($f1, $rj) = $g1 =~ /rejected_calls=(\d+),failed_calls=(\d+)/ ? ($2, $1) : ();
    is_deeply([ ($f1 // -1) - ($f0 // 0), $rj ], [ 2, 0 ],
              'cmdstat_get: the two WRONGTYPEs are failed_calls, not rejected_calls (as Redis)')
        or diag "before: $g0\nafter: $g1";
}

# ======================================================================
# Memory
# ======================================================================
{
    my $before = bsum(backend_infos('memory'), 'memory', 'used_memory');
    my $m = info_parse(resp_cmd($cs, 'INFO', 'memory'))->{memory};
    my $after = bsum(backend_infos('memory'), 'memory', 'used_memory');
    my ($lo, $hi) = $before < $after ? ($before, $after) : ($after, $before);
    my $um = $m->{used_memory} // 0;
    ok($um >= $lo * 0.95 && $um <= $hi * 1.05,
       "used_memory ($um) is the backends' sum ($before .. $after, +-5%)");
    is($m->{used_memory_human}, human($um), "used_memory_human spells used_memory (" . human($um) . ')');
    my $rm = info_parse(redis_cmd($ref->{port}, 'INFO', 'memory'))->{memory};
    is($rm->{used_memory_human}, human($rm->{used_memory}), "(Redis's own used_memory_human is spelt so)");
}

# ======================================================================
# Clients: maxclients, connected_clients over both workers
# ======================================================================
{
    my $ic = info_parse(resp_cmd($cs, 'INFO', 'clients'))->{clients};
    is($ic->{maxclients}, 777, 'maxclients is proxy.max_clients');
    ok(wait_for(sub { info_parse(resp_cmd($cs, 'INFO', 'clients'))->{clients}{connected_clients} == 1 }),
       'connected_clients: 1 (this connection only)');
    my @conns = map { resp_connect($port) } 1 .. 10;
    resp_cmd($_, 'PING') for @conns;
    my %rows = map { (row_of(resp_cmd($_, 'CLIENT', 'ID')) => 1) } @conns;
    my $n;
    wait_for(sub { $n = info_parse(resp_cmd($cs, 'INFO', 'clients'))->{clients}{connected_clients}; $n == 11 });
    is($n, 11, 'connected_clients: 11 with ten more connections (' . scalar(keys %rows) . ' workers took them)');
    my ($w0, $w1) = conns_on_both($port);
    my $want = 13;
    # conns_on_both closed its extra connections: wait for the workers to
    # see those closes before comparing.
    my ($a, $b);
    wait_for(sub {
        ($a, $b) = map { info_parse(resp_cmd($_, 'INFO', 'clients'))->{clients}{connected_clients} } $w0, $w1;
        $a == $want && $b == $want;
    });
    is_deeply([ $a, $b ], [ $want, $want ], 'connected_clients is the same on both workers: both workers\' clients');
    close $_ for @conns, $w0, $w1;
    ok(wait_for(sub { info_parse(resp_cmd($cs, 'INFO', 'clients'))->{clients}{connected_clients} == 1 }),
       'connected_clients back to 1 once they closed');
}

# ======================================================================
# uptime
# ======================================================================
{
    my $wait = 2.2 - (time - $t_ready);
    sleep $wait if $wait > 0;
    my $i = info_parse(resp_cmd($cs, 'INFO', 'server'))->{server};
    my $elapsed = int(time) - int($t_start);
    cmp_ok($i->{uptime_in_seconds}, '>=', 2, "uptime_in_seconds >= 2 ($i->{uptime_in_seconds})");
    cmp_ok($i->{uptime_in_seconds}, '<=', $elapsed, "uptime_in_seconds <= the test's elapsed time ($elapsed)");
    is($i->{uptime_in_days}, '0', 'uptime_in_days:0');
}

# ======================================================================
# Cordis section
# ======================================================================
{
    my ($w0, $w1) = conns_on_both($port);
    my $c0 = info_parse(resp_cmd($w0, 'INFO', 'cordis'))->{cordis};
    my $c1 = info_parse(resp_cmd($w1, 'INFO', 'cordis'))->{cordis};
    is($c0->{workers}, 2, 'Cordis workers:2');
    is($c0->{groups}, 3, 'Cordis groups:3');
    isnt($c0->{worker}, $c1->{worker}, 'Cordis worker: differs on the two workers');
    my $bk = backend_infos('keyspace');
    for my $g (1 .. 3) {
        my $keys = 0;
        for my $db (sort keys %{ $bk->[ $g - 1 ]{keyspace} }) {
            my ($n) = $db =~ /^db(\d+)$/ or next;
            dcmd($g, 'SELECT', $n);
            $keys += dcmd($g, 'DBSIZE');
        }
        dcmd($g, 'SELECT', 0);
        my $bp = $P[ $g - 1 ];
        like($c0->{"group_$g"} // '',
             qr/^addr=127\.0\.0\.1:$bp,status=up,redis_version=\Q$version\E,keys=$keys,used_memory=\d+,/,
             "group_$g: addr, status=up, redis_version, keys=$keys (DBSIZE over its dbs)");
    }
    close $_ for $w0, $w1;
}

# ======================================================================
# Real clients: redis-cli, and a client library if one is installed
# ======================================================================
{
    my $out = `redis-cli -h 127.0.0.1 -p $port info 2>&1`;
    is($?, 0, 'redis-cli info: exit status 0');
    like($out, qr/^redis_version:\Q$version\E\r?$/m, 'redis-cli info: prints redis_version');
    like($out, qr/^# Cordis\r?$/m, 'redis-cli info: prints the Cordis section');
    my $ks = `redis-cli -h 127.0.0.1 -p $port info keyspace 2>&1`;
    like($ks, qr/^# Keyspace\r?\ndb0:keys=32,expires=9,avg_ttl=\d+\r?\ndb3:keys=12,expires=4,avg_ttl=\d+\r?$/m,
         'redis-cli info keyspace (the 30 strings and 2 lists of db0, the 12 of db3)');
    my $cl = `redis-cli -h 127.0.0.1 -p $port client list 2>&1`;
    like($cl, qr/^id=\d+ addr=\S+ laddr=127\.0\.0\.1:$port .* cmd=client\|list user=default redir=-1 resp=2$/m,
         'redis-cli client list: its own line');
    if (system("python3 -c 'import redis' >/dev/null 2>&1") == 0) {
        my $v = `python3 -c 'import redis; print(redis.Redis(host="127.0.0.1", port=$port).info()["redis_version"])' 2>&1`;
        chomp $v;
        is($v, $version, 'redis-py: info()["redis_version"]');
    } else {
        # redis-py is not installed: redis-cli's formatted (non-raw) output.
        my $v = `redis-cli -h 127.0.0.1 -p $port --no-raw info server 2>&1`;
        like($v, qr/redis_version:\Q$version\E/, 'redis-cli --no-raw info server (redis-py not installed)');
    }
}

# ======================================================================
# The version rule: the lowest; cordis B has a fake 6.2.1 group
# ======================================================================
{
    my ($w0, $w1) = conns_on_both($confb->{port});
    # INFO on one worker; HELLO on both before the other runs an INFO.
    my $i = info_parse(resp_cmd($w0, 'INFO'));
    is($i->{server}{redis_version}, '6.2.1', 'a 6.2.1 group and a 7.0 group: INFO redis_version 6.2.1');
    for my $pair ([ $w1, 'the other' ], [ $w0, 'this' ]) {
        my %h = @{ resp_cmd($pair->[0], 'HELLO', 2) };
        is($h{version}, '6.2.1', "HELLO 2 on $pair->[1] worker: 6.2.1 as INFO says");
    }
    my ($r1k) = dbkv(info_parse(dcmd(1, 'INFO', 'keyspace'))->{keyspace}{db0});
    my ($k) = dbkv($i->{keyspace}{db0});
    is($k, $r1k + 5, "db0 keys: the real group's $r1k plus the fake's 5");
    like($i->{cordis}{group_2} // '', qr/^addr=127\.0\.0\.1:$fake->{port},status=up,redis_version=6\.2\.1,keys=5,/,
         'group_2: the fake backend, 6.2.1, 5 keys');
    like($i->{cordis}{group_1} // '', qr/^addr=127\.0\.0\.1:${\ $P[0]},status=up,redis_version=\Q$version\E,/,
         'group_1: the real backend');
    my $i1 = info_parse(resp_cmd($w1, 'INFO', 'server'));
    is($i1->{server}{redis_version}, '6.2.1', 'INFO on the other worker: 6.2.1');
    # A fresh connection on each worker.
    my ($n0, $n1) = conns_on_both($confb->{port});
    my %h0 = @{ resp_cmd($n0, 'HELLO', 2) };
    my %h1 = @{ resp_cmd($n1, 'HELLO', 2) };
    is_deeply([ $h0{version}, $h1{version} ], [ '6.2.1', '6.2.1' ],
              'HELLO 2 on fresh connections of both workers: 6.2.1');
    close $_ for $w0, $w1, $n0, $n1;
}

# ======================================================================
# CLIENT LIST / INFO over both workers
# ======================================================================
my $line_re = qr/^id=(\d+) addr=(\S+) laddr=(\S+) fd=\d+ name=(\S*) age=\d+ idle=\d+ flags=N db=(\d+) sub=0 psub=0 ssub=0 multi=-1 qbuf=\d+ qbuf-free=\d+ argv-mem=\d+ multi-mem=\d+ rbs=\d+ rbp=\d+ obl=\d+ oll=\d+ omem=\d+ tot-mem=\d+ events=\S* cmd=(\S+) user=default redir=-1 resp=2$/;

# CLIENT LIST text -> [ { id, addr, laddr, name, db, cmd, line } ].
sub parse_list {
    my ($text) = @_;
    return [ map {
        my @f = $_ =~ $line_re;
        @f ? { id => $f[0], addr => $f[1], laddr => $f[2], name => $f[3], db => $f[4], cmd => $f[5],
               line => $_ }
           : { bad => $_ }
    } split /\n/, $text // '' ];
}

my (@named, %info);     # the named connections and what each should show
{
    # Field names in order, as Redis 7.0's.
    my $rl = redis_cmd($ref->{port}, 'CLIENT', 'LIST');
    my @rf = map { /^([^=]+)=/ ? $1 : () } split / /, (split /\n/, $rl)[0];
    my $cl = resp_cmd($cs, 'CLIENT', 'LIST');
    my @cf = map { /^([^=]+)=/ ? $1 : () } split / /, (split /\n/, $cl)[0];
    is_deeply(\@cf, \@rf, "CLIENT LIST: Redis's fields in Redis's order") or diag "cordis: @cf\nredis: @rf";
    is_deeply(\@cf, [qw(id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem
                        multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp)],
              'CLIENT LIST: the Redis 7.0 fields');
    like($cl, qr/\n\z/, 'CLIENT LIST: each line ends with a newline');

    # 12 named connections, more until each worker holds at least four: the
    # kills below take three on c1's other worker and one beside c1.
    my (%rows, %setname);
    for my $i (1 .. 60) {
        last if $i > 12 && keys %rows >= 2 && !grep { $_ < 4 } values %rows;
        my $s = resp_connect($port);
        $setname{"c$i"} = resp_cmd($s, 'CLIENT', 'SETNAME', "c$i");
        my $db = $i % 4;
        resp_cmd($s, 'SELECT', $db) if $db;
        my $id = resp_cmd($s, 'CLIENT', 'ID');
        $rows{ row_of($id) }++;
        push @named, $s;
        $info{"c$i"} = { id => $id, addr => $s->sockhost . ':' . $s->sockport, db => $db, sock => $s };
    }
    is_deeply([ grep { $setname{$_} ne 'OK' } sort keys %setname ], [], 'CLIENT SETNAME c1..: +OK each');
    is(scalar(keys %rows), 2, scalar(@named) . ' named connections over both workers ('
       . join(', ', map { "row $_: $rows{$_}" } sort keys %rows) . ')');

    my (@bad, @missing, @wrong, @cmd);
    for my $s (@named) {
        my $me = resp_cmd($s, 'CLIENT', 'ID');
        my $list = parse_list(resp_cmd($s, 'CLIENT', 'LIST'));
        push @bad, map { $_->{bad} } grep { $_->{bad} } @$list;
        my %by_name = map { ($_->{name} => $_) } grep { !$_->{bad} } @$list;
        for my $name (sort keys %info) {
            my $l = $by_name{$name};
            if (!$l) { push @missing, "$name (asked by $me)"; next }
            my $want = $info{$name};
            push @wrong, "$name: $l->{line}"
                unless $l->{id} == $want->{id} && $l->{addr} eq $want->{addr}
                    && $l->{laddr} eq "127.0.0.1:$port" && $l->{db} == $want->{db};
            if ($l->{id} == $me) {
                push @cmd, "$name: cmd=$l->{cmd}" unless $l->{cmd} eq 'client|list';
            }
        }
        push @missing, "itself ($me)" unless grep { !$_->{bad} && $_->{id} == $me } @$list;
    }
    is_deeply(\@bad, [], 'CLIENT LIST: every line in the format, from every connection');
    is_deeply(\@missing, [], 'CLIENT LIST from every connection: all the named ones, itself included');
    is_deeply(\@wrong, [], "CLIENT LIST: id is each one's CLIENT ID, addr its socket, laddr the proxy's, db as SELECTed");
    is_deeply(\@cmd, [], 'CLIENT LIST: the caller shows cmd=client|list');

    my $s = $named[0];
    my @all = sort { $a <=> $b } map { $_->{id} } @{ parse_list(resp_cmd($s, 'CLIENT', 'LIST')) };
    my @normal = sort { $a <=> $b } map { $_->{id} } @{ parse_list(resp_cmd($s, 'CLIENT', 'LIST', 'TYPE', 'normal')) };
    is_deeply(\@normal, \@all, 'CLIENT LIST TYPE normal: every client');
    is_deeply([ map { resp_cmd($s, 'CLIENT', 'LIST', 'TYPE', $_) } qw(pubsub master replica slave) ],
              [ '', '', '', '' ], 'CLIENT LIST TYPE pubsub/master/replica/slave: empty');
    my $rr = resp_connect($ref->{port});
    for my $cmd ([qw(CLIENT LIST TYPE bogus)], [qw(CLIENT LIST ID abc)], [qw(CLIENT LIST ID 0)],
                 [qw(CLIENT LIST ID)], [qw(CLIENT LIST foo)]) {
        is_deeply(resp_cmd($s, @$cmd), resp_cmd($rr, @$cmd), "@$cmd: Redis's error");
    }
    is_deeply(resp_cmd($s, qw(CLIENT LIST TYPE bogus)), { err => "ERR Unknown client type 'bogus'" },
              'CLIENT LIST TYPE bogus: the text');
    is_deeply(resp_cmd($s, qw(CLIENT LIST ID abc)), { err => 'ERR Invalid client ID' }, 'CLIENT LIST ID abc: the text');

    # ID filter: one client on each worker (and one id nobody has).
    my ($x) = grep { row_of($info{$_}{id}) == row_of($info{c1}{id}) } sort keys %info;
    my ($y) = grep { row_of($info{$_}{id}) != row_of($info{c1}{id}) } sort keys %info;
    my $two = parse_list(resp_cmd($s, 'CLIENT', 'LIST', 'ID', $info{$y}{id}, $info{$x}{id}, 99999));
    is_deeply([ sort map { $_->{name} // '?' } @$two ], [ sort $x, $y ],
              "CLIENT LIST ID: just those two ($x, $y), from both workers");

    # CLIENT INFO: the caller's own line.
    my $ci = resp_cmd($s, 'CLIENT', 'INFO');
    like($ci, qr/\A[^\n]*\n\z/, 'CLIENT INFO: one line');
    my ($l) = @{ parse_list($ci) };
    is_deeply([ @$l{qw(id name addr cmd)} ], [ $info{c1}{id}, 'c1', $info{c1}{addr}, 'client|info' ],
              "CLIENT INFO: the caller's id, name, addr and cmd=client|info");

    # CLIENT KILL errors, as Redis's.
    for my $cmd ([qw(CLIENT KILL ID 0)], [qw(CLIENT KILL TYPE nope)], [qw(CLIENT KILL SKIPME maybe)],
                 [qw(CLIENT KILL USER bob)], [qw(CLIENT KILL 10.9.8.7:6543)], [qw(CLIENT KILL ID abc)],
                 [qw(CLIENT KILL ID 1 TYPE)], [qw(CLIENT KILL FOO bar)]) {
        is_deeply(resp_cmd($s, @$cmd), resp_cmd($rr, @$cmd), "@$cmd: as Redis");
    }
    is_deeply([ map { resp_cmd($s, @$_) } [qw(CLIENT KILL ID 0)], [qw(CLIENT KILL TYPE nope)],
                [qw(CLIENT KILL SKIPME maybe)], [qw(CLIENT KILL USER bob)], [qw(CLIENT KILL 10.9.8.7:6543)] ],
              [ { err => 'ERR client-id should be greater than 0' }, { err => "ERR Unknown client type 'nope'" },
                { err => 'ERR syntax error' }, { err => "ERR No such user 'bob'" }, { err => 'ERR No such client' } ],
              'CLIENT KILL errors: the texts');
    is(resp_cmd($s, qw(CLIENT KILL ID 99999)), 0, 'CLIENT KILL ID 99999: 0');
    close $rr;
}

# ======================================================================
# CLIENT KILL
# ======================================================================
{
    my $s = $named[0];
    my $me = $info{c1};
    my @other = grep { row_of($info{$_}{id}) != row_of($me->{id}) } sort keys %info;
    my @same  = grep { $_ ne 'c1' && row_of($info{$_}{id}) == row_of($me->{id}) } sort keys %info;
    my %dead;

    # By ID, a client on the other worker.
    my $v = $other[0];
    is(resp_cmd($s, 'CLIENT', 'KILL', 'ID', $info{$v}{id}), 1, "CLIENT KILL ID (of $v, on the other worker): 1");
    is(resp_read_or_closed($info{$v}{sock}, 3), 'closed', "${v}'s socket is closed");
    $dead{$v} = 1;
    is(resp_cmd($s, 'CLIENT', 'KILL', 'ID', $info{$v}{id}), 0, 'CLIENT KILL ID of it again: 0');

    # By ADDR, another on the other worker and one on this worker.
    for my $victim ($other[1], $same[0]) {
        is(resp_cmd($s, 'CLIENT', 'KILL', 'ADDR', $info{$victim}{addr}), 1, "CLIENT KILL ADDR (of $victim): 1");
        is(resp_read_or_closed($info{$victim}{sock}, 3), 'closed', "${victim}'s socket is closed");
        $dead{$victim} = 1;
    }

    # Old form: CLIENT KILL addr.
    my $o = $other[2];
    is(resp_cmd($s, 'CLIENT', 'KILL', $info{$o}{addr}), 'OK', "CLIENT KILL <addr of $o>: +OK");
    is(resp_read_or_closed($info{$o}{sock}, 3), 'closed', "${o}'s socket is closed");
    $dead{$o} = 1;

    # The ones still listed are the ones alive.
    my @alive = grep { !$dead{$_} } sort keys %info;
    my %listed;
    wait_for(sub {
        %listed = map { ($_->{name} => 1) } @{ parse_list(resp_cmd($s, 'CLIENT', 'LIST')) };
        !grep { $listed{$_} } keys %dead;
    });
    is_deeply([ sort grep { $info{$_} } keys %listed ], [ sort @alive ], 'CLIENT LIST: the killed ones are gone');

    # LADDR ... SKIPME yes: every other client, on both workers.
    my $others = scalar(@{ parse_list(resp_cmd($s, 'CLIENT', 'LIST')) }) - 1;
    is(resp_cmd($s, 'CLIENT', 'KILL', 'LADDR', "127.0.0.1:$port", 'SKIPME', 'yes'), $others,
       "CLIENT KILL LADDR 127.0.0.1:$port SKIPME yes: all the others ($others)");
    my @closed = grep { $_ ne 'c1' && resp_read_or_closed($info{$_}{sock}, 3) eq 'closed' } @alive;
    is(scalar(@closed), @alive - 1, 'every other named socket is closed');
    is(resp_read_or_closed($cs, 3), 'closed', "and the test's main connection too");
    is(resp_cmd($s, 'PING'), 'PONG', 'the caller still works');
    ok(wait_for(sub { scalar(@{ parse_list(resp_cmd($s, 'CLIENT', 'LIST')) }) == 1 }),
       'CLIENT LIST: only the caller is left');

    # USER default SKIPME no: everyone, the caller last (after its reply).
    my @more = map { resp_connect($port) } 1 .. 3;
    resp_cmd($_, 'PING') for @more;
    is(resp_cmd($s, qw(CLIENT KILL USER default SKIPME no)), 4,
       'CLIENT KILL USER default SKIPME no: 4, the caller included');
    is(resp_read_or_closed($s, 3), 'closed', 'the caller is closed after its reply');
    is_deeply([ map { resp_read_or_closed($_, 3) } @more ], [ ('closed') x 3 ], 'and the other three');
    close $_ for @named, @more;

    # The old form may name the caller itself.
    my $k = resp_connect($port);
    my $addr = $k->sockhost . ':' . $k->sockport;
    is(resp_cmd($k, 'CLIENT', 'KILL', $addr), 'OK', 'CLIENT KILL <own addr>: +OK');
    is(resp_read_or_closed($k, 3), 'closed', 'and then closed');
    close $k;
    $cs = resp_connect($port);
}

# ======================================================================
# CLIENT REPLY as byte streams; the small subcommands
# ======================================================================
{
    my ($ka, $kb) = (key3('rep', 1), key3('rep', 2));
    for my $p ($port, $ref->{port}) {
        my $s = resp_connect($p);
        resp_cmd($s, 'DEL', $ka, $kb);
        resp_cmd($s, 'SET', $kb, 'b');
        close $s;
    }
    my $st = same_stream('CLIENT REPLY OFF, SET, CLIENT REPLY ON, GET',
                         [ 'CLIENT', 'REPLY', 'OFF' ], [ 'SET', $ka, 1 ], [ 'CLIENT', 'REPLY', 'ON' ], [ 'GET', $ka ]);
    is($st, "+OK\r\n\$1\r\n1\r\n+PONG\r\n", 'REPLY OFF: only the +OK of ON and the GET\'s value');
    $st = same_stream('CLIENT REPLY SKIP, SET, GET',
                      [ 'CLIENT', 'REPLY', 'SKIP' ], [ 'SET', $ka, 2 ], [ 'GET', $ka ]);
    is($st, "\$1\r\n2\r\n+PONG\r\n", 'REPLY SKIP: only the next reply is dropped');
    is(same_stream('OFF: multi-group MGET, an error, SKIP while OFF, PING, QUIT',
                   [ 'CLIENT', 'REPLY', 'OFF' ], [ 'MGET', $ka, $kb ], [ 'INCR', $kb ], [ 'GET' ],
                   [ 'CLIENT', 'REPLY', 'SKIP' ], [ 'PING' ], [ 'QUIT' ]), '',
       'REPLY OFF: nothing at all, then the close');
    same_stream('OFF: an unknown command and an unknown subcommand, QUIT',
                [ 'CLIENT', 'REPLY', 'OFF' ], [ 'NOSUCHCMD' ], [ 'CLIENT', 'NOSUCHSUB' ], [ 'QUIT' ]);
    same_stream('SKIP: then an unknown command, then PING',
                [ 'CLIENT', 'REPLY', 'SKIP' ], [ 'NOSUCHCMD' ], [ 'PING', 'after' ]);
    same_stream('SKIP SKIP PING PING', [ 'CLIENT', 'REPLY', 'SKIP' ], [ 'CLIENT', 'REPLY', 'SKIP' ],
                [ 'PING', 'a' ], [ 'PING', 'b' ]);
    same_stream('SKIP before a multi-group MGET and an error',
                [ 'CLIENT', 'REPLY', 'SKIP' ], [ 'MGET', $ka, $kb ], [ 'CLIENT', 'REPLY', 'SKIP' ], [ 'INCR', $kb ],
                [ 'GET', $kb ], [ 'CLIENT', 'REPLY', 'BOGUS' ]);
    # One at a time rather than pipelined.
    {
        my $s = resp_connect($port);
        resp_send($s, 'CLIENT', 'REPLY', 'OFF');
        resp_send($s, 'SET', $ka, 3);
        sleep 0.1;
        resp_send($s, 'CLIENT', 'REPLY', 'ON');
        my $r1 = resp_read_or_closed($s, 1);
        my $r2 = resp_cmd($s, 'GET', $ka);
        is_deeply([ $r1, $r2 ], [ 'OK', 3 ], 'REPLY OFF/ON one at a time: +OK of ON, then the value');
        close $s;
    }

    my $rr = resp_connect($ref->{port});
    is(resp_cmd($cs, qw(CLIENT NO-EVICT on)), 'OK', 'CLIENT NO-EVICT on: +OK');
    is_deeply(resp_cmd($cs, qw(CLIENT NO-EVICT maybe)), { err => 'ERR syntax error' }, 'CLIENT NO-EVICT maybe: syntax error');
    is_deeply(resp_cmd($cs, qw(CLIENT NO-EVICT maybe)), resp_cmd($rr, qw(CLIENT NO-EVICT maybe)), '... as Redis');
    is(resp_cmd($cs, qw(CLIENT UNBLOCK 5)), 0, 'CLIENT UNBLOCK 5: 0');
    is_deeply(resp_cmd($cs, qw(CLIENT UNBLOCK 5)), resp_cmd($rr, qw(CLIENT UNBLOCK 5)), '... as Redis');
    is_deeply(resp_cmd($cs, qw(CLIENT UNBLOCK x)), resp_cmd($rr, qw(CLIENT UNBLOCK x)), 'CLIENT UNBLOCK x: as Redis');
    is_deeply(resp_cmd($cs, qw(CLIENT UNBLOCK 5 nope)), resp_cmd($rr, qw(CLIENT UNBLOCK 5 nope)),
              'CLIENT UNBLOCK 5 nope: as Redis');

    # CLIENT HELP: an array of status lines.
    {
        my $s = resp_connect($port);
        syswrite($s, resp_encode('CLIENT', 'HELP') . resp_encode('PING'));
        my $raw = read_until_tail($s, "+PONG\r\n");
        close $s;
        $raw =~ s/\+PONG\r\n\z//;
        my ($n, @lines) = split /\r\n/, $raw;
        ok(defined $n && $n =~ /^\*(\d+)$/ && $1 == @lines && $1 > 10, 'CLIENT HELP: an array (' . ($n // '') . ')');
        is_deeply([ grep { !/^\+/ } @lines ], [], 'CLIENT HELP: every element a status line');
        is($lines[0], '+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:', 'CLIENT HELP: first line as Redis\'s');
    }

    for my $cmd ([qw(CLIENT PAUSE 10)], [qw(CLIENT TRACKING on)]) {
        my $name = "$cmd->[0] $cmd->[1]";
        like(resp_cmd($cs, @$cmd)->{err} // '', qr/^ERR command '\Q$name\E' is not supported by cordis: \S/,
             "@$cmd: not supported, with a reason");
    }
    is(resp_cmd($cs, 'PING'), 'PONG', 'the connection still works');
    close $rr;
}

# ======================================================================
# A group down: INFO still answers
# ======================================================================
{
    my $bk = backend_infos('keyspace');
    stop_redis($R[2]);
    close $D[2];
    my $t = time;
    my $i = info_parse(resp_cmd($cs, 'INFO'));
    ok(time - $t < 5, sprintf('INFO with group 3 down answers (%.2f s)', time - $t));
    like($i->{cordis}{group_3} // '', qr/^addr=127\.0\.0\.1:${\ $P[2]},status=down/, 'group_3: status=down');
    like($i->{cordis}{group_1} // '', qr/,status=up,/, 'group_1: still up');
    my ($k0) = dbkv($i->{keyspace}{db0});
    my ($k3) = dbkv($i->{keyspace}{db3});
    my ($a0, $a3) = (0, 0);
    for my $g (1, 2) {
        $a0 += (dbkv($bk->[ $g - 1 ]{keyspace}{db0}))[0];
        $a3 += (dbkv($bk->[ $g - 1 ]{keyspace}{db3}))[0];
    }
    is_deeply([ $k0, $k3 ], [ $a0, $a3 ], "Keyspace counts only groups 1 and 2 (db0 $a0, db3 $a3)");
    is($i->{server}{redis_version}, $version, 'redis_version from the groups that answered');
    is(resp_cmd($cs, 'GET', $db0_keys[0]), 'v0', 'a key of group 1 still reads');
}

# ======================================================================
# The end
# ======================================================================
close $cs;
close $_ for @D[0, 1];
stop_cordis($cordis);
stop_cordis($cordisb);
log_is_clean($cordis);
log_is_clean($cordisb);
kill 'TERM', $fake->{pid};
waitpid($fake->{pid}, 0);
stop_redis($_) for @R[0, 1], $ref;
diag(sprintf('runtime %.1f s', time - $t_begin));
