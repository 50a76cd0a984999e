#!/usr/bin/perl
# The admin HTTP API in the master: model, stats summed over the workers
# (and kept across worker deaths), reset, fillslots, tokens and secrets, log
# level, reload, Prometheus metrics and shutdown.
use strict;
use warnings;

use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);

use CordisTest;

my $r1 = start_redis();
my $r2 = start_redis();
my ($a1, $a2) = ("127.0.0.1:$r1->{port}", "127.0.0.1:$r2->{port}");
my @groups = ([ 1, $a1 ], [ 2, $a2 ]);

my $conf = write_conf(groups => \@groups, slots => [ [ '0-511', 1 ], [ '512-1023', 2 ] ]);
my $c = start_cordis($conf);
my $d1 = resp_connect($r1->{port});
my $d2 = resp_connect($r2->{port});

sub model   { admin_get($conf, '/api/proxy/model')->{json} // {} }
sub stats   { admin_get($conf, '/api/proxy/stats')->{json} // {} }
sub slots   { admin_get($conf, '/api/proxy/slots')->{json} // [] }
sub metrics { admin_get($conf, '/metrics')->{content} }

# The entry of one command in stats' ops.cmd ({} when absent).
sub cmd_stat {
    my ($st, $name) = @_;
    my ($e) = grep { $_->{opstr} eq $name } @{ $st->{ops}{cmd} || [] };
    return $e // {};
}

# The value of one sample ("name{labels}") in Prometheus text, or undef.
sub metric {
    my ($text, $sample) = @_;
    return $text =~ /^\Q$sample\E (\S+)$/m ? $1 : undef;
}

sub pipeline {
    my ($s, @cmds) = @_;
    print $s join('', map {
        '*' . scalar(@$_) . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @$_)
    } @cmds);
    return [ map { resp_read($s) } @cmds ];
}

# Local addresses listening on a TCP port, as ss shows them.
sub listeners {
    my ($port) = @_;
    return grep { /:\Q$port\E$/ } map { (split ' ')[3] // '' } `ss -ltnH 2>/dev/null`;
}

sub is_err { ref $_[0] eq 'HASH' && defined $_[0]{err} }

# Every connection in @$conns stores "{foo}:<i>" (slot 289, like foo) and the
# value is then found on the backend behind $direct.
my $round = 0;
sub all_route_to {
    my ($conns, $direct) = @_;
    $round++;
    my @keys = map { "{foo}:$_" } 0 .. $#$conns;
    for my $i (0 .. $#$conns) {
        my $s = $conns->[$i];
        print $s "*3\r\n\$3\r\nSET\r\n\$" . length($keys[$i]) . "\r\n$keys[$i]\r\n\$"
            . length("r$round") . "\r\nr$round\r\n";
    }
    my @set = map { resp_read($_) } @$conns;
    return 0 if grep { !defined $_ || $_ ne 'OK' } @set;
    my $got = pipeline($direct, map { [ 'GET', $_ ] } @keys);
    return !grep { !defined $_ || $_ ne "r$round" } @$got;
}

# --- loopback only ------------------------------------------------------------

{
    my @l = listeners($conf->{admin_port});
    ok(@l >= 1, 'the admin port is listening') or diag(`ss -ltn`);
    is_deeply([ grep { $_ ne "127.0.0.1:$conf->{admin_port}" } @l ], [],
              '... on 127.0.0.1 only');
}

SKIP: {
    # With no admin section at all the default, 127.0.0.1:11080, applies.
    skip 'port 11080 is taken on this host', 4 if listeners(11080);
    my $dconf = write_conf_in('default', groups => \@groups, slots => [ [ '0-1023', 1 ] ]);
    (my $text = read_file($dconf->{path})) =~ s/^admin = \{\n.*?^\};\n//ms;
    unlike($text, qr/^admin/m, 'a config without an admin section');
    open my $fh, '>', $dconf->{path} or die "$dconf->{path}: $!";
    print $fh $text;
    close $fh;
    my $dc = eval { start_cordis($dconf) };
    if (!$dc) {
        # Another program may have taken the port since we looked.
        skip 'port 11080 was taken meanwhile', 3 if read_file($dconf->{log}) =~ /in use/;
        fail("cordis with the default admin address started: $@");
        skip 'cordis did not start', 2;
    }
    my $l = wait_for(sub { my @x = listeners(11080); @x ? \@x : undef }, 5) || [];
    my @addrs = @$l;
    is_deeply(\@addrs, ['127.0.0.1:11080'], 'the default admin address is 127.0.0.1:11080 only')
        or diag(`ss -ltn`);
    is(admin_get(11080, '/api/proxy/model')->{json}{pid}, $dc->{pid}, '... and it is this cordis');
    is(stop_cordis($dc), 0, '... which stops cleanly');
}

# --- model -----------------------------------------------------------------------

{
    my $res = admin_get($conf, '/api/proxy/model');
    is($res->{status}, 200, 'GET /api/proxy/model is 200');
    like($res->{headers}{'content-type'} // '', qr{^application/json}, '... JSON');
    my $m = $res->{json} // {};
    my $src = $ENV{CORDIS_SRCDIR} || '.';
    my ($version) = read_file("$src/configure.ac") =~ /AC_INIT\(\[cordis\],\s*\[([^\]]+)\]/;
    is($m->{version}, $version, "version is the package's ($version)");
    is($m->{product_name}, 'cordis-test', 'product_name from the config');
    is($m->{pid}, $c->{pid}, 'pid is the master');
    is($m->{config_file}, $conf->{path}, 'config_file');
    ok(defined $m->{generation} && $m->{generation} =~ /^\d+$/, 'generation is a number');
    my @w = @{ $m->{workers} || [] };
    is(scalar @w, 2, 'two workers');
    is_deeply([ sort { $a <=> $b } map { $_->{pid} } @w ], [ worker_pids($c) ],
              '... whose pids are the master\'s children');
    is_deeply([ map { $_->{state} } @w ], [ 'running', 'running' ], '... both running');
    my $rl = $m->{reload} // {};
    is_deeply([ $rl->{ok}, $rl->{failed} ], [ 0, 0 ], 'no reload yet');
    ok(exists $rl->{last}, 'reload.last is present');
    ok(defined $m->{route_generation} && $m->{route_generation} > 0, 'a route generation');
}

# --- stats summed over both workers ---------------------------------------------------

my @conns = map { resp_connect($conf->{port}) } 1 .. 20;
my ($N, $M) = (100, 60);
{
    is(stats()->{ops}{total}, 0, 'a fresh cordis has answered no commands');
    my ($set_ok, $get_ok) = (0, 0);
    for my $i (0 .. $N - 1) {
        $set_ok++ if (resp_cmd($conns[$i % 20], 'SET', "key:$i", "v$i") // '') eq 'OK';
    }
    for my $i (0 .. $M - 1) {
        $get_ok++ if (resp_cmd($conns[($i + 7) % 20], 'GET', "key:$i") // '') eq "v$i";
    }
    is($set_ok, $N, "$N SETs through 20 connections");
    is($get_ok, $M, "$M GETs read them back");

    my $st = stats();
    is($st->{ops}{total}, $N + $M, 'ops.total counts every command exactly');
    my ($set, $get) = (cmd_stat($st, 'SET'), cmd_stat($st, 'GET'));
    is($set->{calls}, $N, "ops.cmd SET calls = $N");
    is($get->{calls}, $M, "ops.cmd GET calls = $M");
    is(scalar @{ $st->{ops}{cmd} || [] }, 2, 'no other command is listed');
    cmp_ok($set->{usecs_percall} // 0, '>', 0, 'SET usecs_percall > 0');
    cmp_ok($set->{usecs} // 0, '>=', $N * ($set->{usecs_percall} // 0), '... and usecs is the total');
    ok(defined $set->{p50_usecs} && defined $set->{p99_usecs}, 'p50 and p99 are reported');
    cmp_ok($set->{p50_usecs} // 0, '>', 0, 'p50 > 0');
    cmp_ok($set->{p50_usecs} // 0, '<=', $set->{p99_usecs} // -1, 'p50 <= p99');
    is_deeply([ $set->{fails}, $set->{redis_errtype} ], [ 0, 0 ], 'no SET failed');
    cmp_ok($st->{sessions}{total}, '>=', 20, 'sessions.total >= 20');
    cmp_ok($st->{sessions}{alive}, '>=', 20, 'sessions.alive >= 20 (all still open)');
    my @w = @{ $st->{workers} || [] };
    is(scalar @w, 2, 'stats.workers has both workers');
    is(scalar(grep { ($_->{sessions_total} // 0) > 0 } @w), 2,
       'both SO_REUSEPORT workers accepted connections')
        or diag(explain(\@w));
    my $sum = 0;
    $sum += $_->{ops} // 0 for @w;
    is($sum, $N + $M, 'the workers\' ops add up to ops.total');

    # Prometheus on the same exact counts.
    my $text = metrics();
    is(metric($text, 'cordis_commands_total{command="SET"}'), $N, "cordis_commands_total SET = $N");
    is(metric($text, 'cordis_commands_total{command="GET"}'), $M, "cordis_commands_total GET = $M");
    my @buckets = $text =~ /^cordis_command_duration_seconds_bucket\{command="SET",le="[^"]+"\} \d+$/mg;
    cmp_ok(scalar @buckets, '>=', 10, 'cordis_command_duration_seconds_bucket lines for SET');
    is(metric($text, 'cordis_command_duration_seconds_bucket{command="SET",le="+Inf"}'), $N,
       '... the +Inf bucket holds every SET');
    is(metric($text, 'cordis_command_duration_seconds_count{command="SET"}'), $N, '... and _count');
    cmp_ok(metric($text, 'cordis_sessions_alive') // 0, '>=', 20, 'cordis_sessions_alive >= 20');
    for my $addr ($a1, $a2) {
        like($text, qr/^cordis_backend_up\{addr="\Q$addr\E"[^}]*\} 1$/m, "cordis_backend_up $addr 1");
    }
    is(metric($text, 'cordis_workers'), 2, 'cordis_workers 2');
    is(metric($text, 'cordis_reloads_total{result="ok"}'), 0, 'cordis_reloads_total ok 0');
    is(metric($text, 'cordis_slot_table_generation'), model()->{route_generation},
       'cordis_slot_table_generation = model.route_generation');

  SKIP: {
        # tools/bootstrap installs promtool (Debian package prometheus).
        ok(`which promtool 2>/dev/null`, 'promtool is installed') or skip 'no promtool', 2;
        my $file = tmpdir() . '/metrics.txt';
        open my $fh, '>', $file or die "$file: $!";
        print $fh $text;
        close $fh;
        my $out = `promtool check metrics < '$file' 2>&1`;
        is($?, 0, 'promtool check metrics passes') or diag($out);
        is_deeply([ grep { /error/i } split /\n/, $out ], [], '... with no error line');
    }

    # qps follows traffic: over 0 while it runs, back to 0 after.
    my $n = 0;
    my $busy = wait_for(sub {
        pipeline($conns[$n++ % 20], map { [ 'GET', "key:$_" ] } 1 .. 200);
        return (stats()->{ops}{qps} // 0) > 0;
    }, 15);
    ok($busy, 'ops.qps > 0 while traffic runs');
    my $t0 = time;
    my @seen;
    ok(wait_for(sub {
        my $q = stats()->{ops}{qps} // -1;
        push @seen, sprintf('%.2fs:%s', time - $t0, $q) unless @seen && $seen[-1] =~ /:\Q$q\E$/;
        return $q == 0;
    }, 10), 'ops.qps back to 0 when idle') or diag("qps seen: @seen");
}

# --- errors --------------------------------------------------------------------------

{
    my $before = stats();
    my $r = resp_cmd($conns[0], 'MONITOR');
    ok(is_err($r) && $r->{err} =~ /not supported/, 'MONITOR is refused') or diag(explain($r));
    my $after = stats();
    is($after->{ops}{fails}, $before->{ops}{fails} + 1, 'a refused command counts in ops.fails');
    is_deeply([ @{ cmd_stat($after, 'MONITOR') }{qw(calls fails redis_errtype)} ], [ 1, 1, 0 ],
              '... and in ops.cmd MONITOR: calls 1, fails 1, redis_errtype 0');
    is($after->{ops}{redis}{errors}, $before->{ops}{redis}{errors}, '... not as a Redis error');

    $before = $after;
    is(resp_cmd($conns[1], 'RPUSH', 'alist', 'x'), 1, 'RPUSH alist');
    $r = resp_cmd($conns[1], 'GET', 'alist');
    ok(is_err($r) && $r->{err} =~ /^WRONGTYPE/, 'GET on a list is WRONGTYPE') or diag(explain($r));
    $after = stats();
    is(cmd_stat($after, 'GET')->{redis_errtype}, (cmd_stat($before, 'GET')->{redis_errtype} // 0) + 1,
       'WRONGTYPE counts in GET redis_errtype');
    is($after->{ops}{redis}{errors}, $before->{ops}{redis}{errors} + 1, '... and in ops.redis.errors');
    is($after->{ops}{fails}, $before->{ops}{fails}, '... not in ops.fails');
    is(metric(metrics(), 'cordis_command_errors_total{command="GET",kind="redis"}'), 1,
       'cordis_command_errors_total GET redis 1');
}

# --- fillslots ---------------------------------------------------------------------------

{
    ok(all_route_to(\@conns, $d1), 'slot 289 starts on group 1');
    my $gen = model()->{route_generation};
    # A loaded test host can stall any process for a while: the best of
    # three moves must take under 100 ms.
    my ($res, @took);
    for my $try (1 .. 3) {
        $res = admin_put($conf, '/api/proxy/fillslots', content => '[{"id":289,"group":2}]');
        my $t0 = time;
        last unless $res->{status} == 200;
        my $moved = wait_for(sub { all_route_to(\@conns, $d2) ? time : 0 }, 3);
        push @took, $moved ? $moved - $t0 : 99;
        last if $took[-1] < 0.1 || $try == 3;
        admin_put($conf, '/api/proxy/fillslots', content => '[{"id":289,"group":1}]');
        wait_for(sub { all_route_to(\@conns, $d1) }, 3);
    }
    is($res->{status}, 200, 'fillslots [{id 289, group 2}] is 200') or diag($res->{content});
    ok(@took && $took[-1] < 99, 'slot 289 moves to group 2 on every connection (both workers)');
    my ($best) = sort { $a <=> $b } @took;
    cmp_ok($best // 99, '<', 0.1, '... within 100 ms') or diag("took: @took");
    is(resp_cmd($conns[0], 'SET', 'foo', 'on-group-2'), 'OK', 'SET foo');
    is(resp_cmd($d2, 'GET', 'foo'), 'on-group-2', '... lands on group 2\'s backend');
    cmp_ok(model()->{route_generation}, '>', $gen, 'route_generation went up');
    my $s = slots();
    is(scalar @$s, 1024, 'GET /api/proxy/slots has 1024 entries');
    is_deeply([ @{ $s->[289] }{qw(id group backend_addr)} ], [ 289, 2, $a2 ],
              '... slot 289 is on group 2');
    is_deeply([ @{ $s->[288] }{qw(id group backend_addr)} ], [ 288, 1, $a1 ],
              '... slot 288 is still on group 1');

    # Codis's slot objects, by backend address.
    $res = admin_put($conf, '/api/proxy/fillslots', content => JSON::PP->new->encode([
        { id => 289, backend_addr => $a1, migrate_from => '', locked => JSON::PP::false(),
          replica_groups => [] } ]));
    is($res->{status}, 200, 'fillslots with a Codis slot object is 200') or diag($res->{content});
    ok(wait_for(sub { all_route_to(\@conns, $d1) }, 3), '... slot 289 is back on group 1');
    $s = slots()->[289] // {};
    is_deeply([ @$s{qw(group backend_addr migrate_from)} ], [ 1, $a1, '' ],
              '... and GET /api/proxy/slots says so');
    ok(JSON::PP::is_bool($s->{locked}) && !$s->{locked}, '... unlocked');

    # Refused bodies change nothing.
    my ($slot0_key) = grep { codis_slot($_) <= 2 } map { "k$_" } 1 .. 100000;
    my $route_gen = model()->{route_generation};
    for my $case ([ 'bad JSON', '[{"id":289,"group":2}', qr/JSON/i ],
                  [ 'not an array', '{"id":289,"group":2}', qr/array/i ],
                  [ 'item 3 has an unknown group',
                    '[{"id":0,"group":2},{"id":1,"group":2},{"id":2,"group":2},{"id":3,"group":77}]',
                    qr/slots\[3\].*77/ ]) {
        my ($what, $body, $why) = @$case;
        $res = admin_put($conf, '/api/proxy/fillslots', content => $body);
        is($res->{status}, 400, "fillslots, $what: 400");
        like(ref $res->{json} eq 'HASH' ? $res->{json}{error} // '' : '', $why, '... the error says why')
            or diag($res->{content});
        is(model()->{route_generation}, $route_gen, '... route_generation unchanged');
        $s = slots();
        is_deeply([ map { $s->[$_]{group} } 0, 1, 2, 3, 289 ], [ 1, 1, 1, 1, 1 ],
                  '... slots 0-3 and 289 unchanged');
        ok(all_route_to(\@conns, $d1), '... slot 289 still routes to group 1');
        is(resp_cmd($conns[0], 'SET', $slot0_key, $what), 'OK', "... SET $slot0_key");
        is(resp_cmd($d1, 'GET', $slot0_key), $what, '... still on group 1');
    }

    # A browser page may not change anything.
    $res = admin_put($conf, '/api/proxy/fillslots', content => '[{"id":289,"group":2}]',
                     headers => { Origin => 'http://evil.example' });
    is($res->{status}, 403, 'a PUT with an Origin header is 403');
    ok(ref $res->{json} eq 'HASH' && $res->{json}{error}, '... with a JSON error');
    is(model()->{route_generation}, $route_gen, '... and nothing was applied');

    for my $method (qw(GET PUT)) {
        $res = admin_http($method, $conf, '/api/proxy/nosuchroute');
        is($res->{status}, 404, "$method unknown route: 404");
        ok(ref $res->{json} eq 'HASH' && $res->{json}{error}, '... with a JSON error')
            or diag($res->{content});
    }
}

# --- log level --------------------------------------------------------------------------

{
    unlike(read_file($conf->{log}), qr/\[debug\]/, 'no debug lines at level info');
    my $res = admin_put($conf, '/api/proxy/loglevel/debug');
    is($res->{status}, 200, 'PUT /api/proxy/loglevel/debug is 200');
    ok(wait_for(sub {
        redis_cmd($conf->{port}, 'PING');
        return read_file($conf->{log}) =~ /\[debug\] \d+ worker \d+:/;
    }, 5), '... workers write debug lines');
    $res = admin_put($conf, '/api/proxy/loglevel/bogus');
    is($res->{status}, 400, 'PUT /api/proxy/loglevel/bogus is 400');
    like(ref $res->{json} eq 'HASH' ? $res->{json}{error} // '' : '', qr/bogus/, '... naming it');
    is(admin_put($conf, '/api/proxy/loglevel/info')->{status}, 200, 'back to info');
}

# --- counters survive kill -9 of every worker ------------------------------------------------

my @victims = worker_pids($c);
{
    close $_ for @conns;
    @conns = ();
    my $old = stats()->{ops}{total};
    cmp_ok($old, '>', $N + $M, "ops.total is $old before the kill");
    is(scalar @victims, 2, 'two workers to kill');
    kill 'KILL', @victims;
    my $min = $old;
    my $respawned = wait_for(sub {
        my $t = stats()->{ops}{total} // 0;
        $min = $t if $t < $min;
        my @now = worker_pids($c);
        return @now == 2 && !grep { my $p = $_; grep { $_ == $p } @victims } @now;
    }, 15);
    ok($respawned, 'both workers were respawned');
    is($min, $old, 'ops.total never went backwards meanwhile');
    my $st = stats();
    cmp_ok($st->{ops}{total}, '>=', $old, 'ops.total survived the kill');
    is_deeply([ sort { $a <=> $b } map { $_->{pid} } @{ model()->{workers} || [] } ],
              [ worker_pids($c) ], 'model.workers shows the new pids');
    my $s = resp_connect($conf->{port});
    resp_cmd($s, 'SET', "after-kill:$_", $_) for 1 .. 10;
    close $s;
    cmp_ok(stats()->{ops}{total}, '>=', $st->{ops}{total} + 10, 'new traffic raises it');
}

# --- reset -----------------------------------------------------------------------------------

{
    my $before = metric(metrics(), 'cordis_commands_total{command="SET"}');
    my $res = admin_put($conf, '/api/proxy/stats/reset');
    is($res->{status}, 200, 'PUT /api/proxy/stats/reset is 200');
    my $st = stats();
    is($st->{ops}{total}, 0, 'ops.total is 0 after a reset');
    is_deeply($st->{ops}{cmd}, [], 'ops.cmd is empty');
    is($st->{ops}{fails}, 0, 'ops.fails is 0');
    my $s = resp_connect($conf->{port});
    resp_cmd($s, 'SET', "after-reset:$_", $_) for 1 .. 5;
    resp_cmd($s, 'GET', "after-reset:$_") for 1 .. 3;
    close $s;
    $st = stats();
    is($st->{ops}{total}, 8, 'ops.total counts new traffic from 0');
    is(cmd_stat($st, 'SET')->{calls}, 5, '... SET calls 5');
    is(metric(metrics(), 'cordis_commands_total{command="SET"}'), $before + 5,
       'cordis_commands_total SET went on from where it was');
}

# --- reload ------------------------------------------------------------------------------------

{
    my %same = (port => $conf->{port}, admin_port => $conf->{admin_port}, groups => \@groups);
    write_conf(%same, slots => [ [ '0-511', 2 ], [ '512-1023', 1 ] ]);
    my $res = admin_put($conf, '/api/proxy/reload');
    is($res->{status}, 200, 'PUT /api/proxy/reload is 200') or diag($res->{content});
    my $j = ref $res->{json} eq 'HASH' ? $res->{json} : {};
    ok(JSON::PP::is_bool($j->{ok}) && $j->{ok}, '... {"ok":true}');
    ok(defined $j->{result} && length $j->{result}, "... with a result: " . ($j->{result} // 'none'));
    is(model()->{reload}{ok}, 1, 'model.reload.ok is 1');
    my $s = resp_connect($conf->{port});
    ok(wait_for(sub {
        (resp_cmd($s, 'SET', 'foo', 'reloaded') // '') eq 'OK'
            && (resp_cmd($d2, 'GET', 'foo') // '') eq 'reloaded';
    }, 3), 'routing follows the new slots (foo now on group 2)');

    open my $fh, '>>', $conf->{path} or die;
    print $fh "proxy = { workers = ; };\n";
    close $fh;
    $res = admin_put($conf, '/api/proxy/reload');
    is($res->{status}, 400, 'reload of a broken file is 400');
    ok(ref $res->{json} eq 'HASH' && $res->{json}{error}, '... with an error');
    my $m = model();
    is_deeply([ $m->{reload}{ok}, $m->{reload}{failed} ], [ 1, 1 ], 'model.reload.failed is 1');
    like($m->{reload}{last} // '', qr/\Q$conf->{path}\E:\d+/, 'model.reload.last names file:line')
        or diag($m->{reload}{last});
    is(resp_cmd($s, 'SET', 'foo', 'still'), 'OK', 'cordis still serves');
    is(resp_cmd($d2, 'GET', 'foo'), 'still', '... with the last good slots');
    my $text = metrics();
    is(metric($text, 'cordis_reloads_total{result="ok"}'), 1, 'cordis_reloads_total ok 1');
    is(metric($text, 'cordis_reloads_total{result="failed"}'), 1, 'cordis_reloads_total failed 1');
    write_conf(%same, slots => [ [ '0-511', 2 ], [ '512-1023', 1 ] ]);
    close $s;
}

# --- a backend goes down ------------------------------------------------------------------------

{
    stop_redis($r2);
    my $err;
    my $down = wait_for(sub {
        my $r = eval { redis_cmd($conf->{port}, 'SET', 'foo', 'down') };
        $err = $r if is_err($r);
        return (metric(metrics(), "cordis_backend_up{addr=\"$a2\",group=\"2\",role=\"primary\"}") // "") eq "0";
    }, 10);
    ok($down, "cordis_backend_up for $a2 becomes 0");
    ok($err, '... requests to it get an error reply') and note($err->{err});
    is(metric(metrics(), "cordis_backend_up{addr=\"$a1\",group=\"1\",role=\"primary\"}"), 1, "... $a1 stays up");
}

# --- shutdown --------------------------------------------------------------------------------------

{
    my @workers = worker_pids($c);
    my $res = admin_put($conf, '/api/proxy/shutdown');
    is($res->{status}, 200, 'PUT /api/proxy/shutdown is 200');
    my $status = wait_exit($c, 10);
    is($status, 0, 'the master exits 0 (graceful)');
    ok(wait_for(sub { !grep { kill 0, $_ } @workers }, 5), '... and its workers are gone');
    log_is_clean_but($c, map { qr/worker \d+ \(pid $_\) was killed by signal 9/ } @victims);
}

# --- a token, session and backend passwords ---------------------------------------------------------

{
    my ($token, $spw, $bpw) = ('t0ken', 's3ss-Secret-7', 'b4ck-Secret-9');
    my @rs = (start_redis(), start_redis());
    for my $r (@rs) {    # start_redis's probe cannot AUTH: set the password after
        is(redis_cmd($r->{port}, 'CONFIG', 'SET', 'requirepass', $bpw), 'OK', "backend $r->{port} needs a password");
    }
    my $tconf = write_conf_in('token',
        groups => [ map { [ $_ + 1, "127.0.0.1:$rs[$_]{port}" ] } 0, 1 ],
        slots => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
        admin => { token => $token }, session => { auth => $spw }, backend => { auth => $bpw });
    my $tc = start_cordis($tconf);

    my $put = sub { admin_put($tconf, '/api/proxy/loglevel/debug', @_)->{status} };
    is($put->(), 401, 'with a token set: PUT without Authorization is 401');
    is($put->(headers => { Authorization => 'Bearer wrong' }), 401, '... Bearer wrong is 401');
    is($put->(headers => { Authorization => $token }), 401, '... the token without Bearer is 401');
    is($put->(headers => { Authorization => "Bearer $token" }), 200, '... Bearer t0ken is 200');

    my $s = resp_connect($tconf->{port});
    ok(is_err(resp_cmd($s, 'SET', 'foo', 'x')), 'a session must AUTH first');
    ok(is_err(resp_cmd($s, 'AUTH', 'wrong')), 'AUTH wrong fails');
    is(resp_cmd($s, 'AUTH', $spw), 'OK', 'AUTH with session.auth');
    my $ok = 0;
    for my $i (1 .. 20) {
        $ok++ if (resp_cmd($s, 'SET', "tk:$i", $i) // '') eq 'OK'
              && (resp_cmd($s, 'GET', "tk:$i") // '') eq $i;
    }
    is($ok, 20, 'SET/GET reach the password-protected backends (backend.auth)');
    # CONFIG GET goes to a backend, but never hands out its passwords.
    is_deeply(resp_cmd($s, 'CONFIG', 'GET', 'requirepass'), [], 'CONFIG GET requirepass: hidden');
    is_deeply(resp_cmd($s, 'CONFIG', 'GET', 'masterauth'), [], 'CONFIG GET masterauth: hidden');
    is_deeply(resp_cmd($s, 'CONFIG', 'GET', 'maxmemory'), [ 'maxmemory', '0' ], 'CONFIG GET maxmemory: answered');
    my $all = resp_cmd($s, 'CONFIG', 'GET', '*');
    ok(ref $all eq 'ARRAY' && @$all > 100 && @$all % 2 == 0, 'CONFIG GET *: name/value pairs');
    my %params = ref $all eq 'ARRAY' ? @$all : ();
    ok(exists $params{maxmemory} && !exists $params{requirepass} && !exists $params{masterauth}
       && !exists $params{masteruser}, '... without the password parameters');
    ok(!grep({ defined $_ && $_ eq $bpw } @{ $all || [] }), "... and without the backend's password");
    close $s;
    my $res = admin_put($tconf, '/api/proxy/reload', headers => { Authorization => "Bearer $token" });
    is($res->{status}, 200, 'reload with the token is 200');

    for my $path ('/api/proxy/model', '/api/proxy/stats', '/api/proxy/slots', '/metrics', '/') {
        my $r = admin_get($tconf, $path);
        is($r->{status}, 200, "GET $path needs no token");
        for my $secret ($token, $spw, $bpw) {
            unlike($r->{content}, qr/\Q$secret\E/, "... and does not show '$secret'");
        }
    }
    $res = admin_put($tconf, '/api/proxy/shutdown', headers => { Authorization => "Bearer $token" });
    is($res->{status}, 200, 'shutdown with the token is 200');
    is(wait_exit($tc, 10), 0, '... the master exits 0');
    my $log = read_file($tconf->{log}) . read_file($tc->{stderr});
    like($log, qr/\[debug\]/, 'the log was at debug level');
    for my $secret ($token, $spw, $bpw) {
        unlike($log, qr/\Q$secret\E/, "the log does not show '$secret'");
    }
    log_is_clean($tc);
}

done_testing;
