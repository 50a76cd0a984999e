#!/usr/bin/perl
# Zero-downtime lifecycle, under load: persistent clients doing SET/GET with
# checked values and a client opening fresh connections keep running while
#   1. HUP x10 changes settings that apply in place (and moves slots),
#   2. HUP changes the worker count (2 -> 3 -> 1: new generations),
#   3. HUP brings a config with a syntax error (the old one keeps serving),
#   4. QUIT arrives with 20,000 pipelined requests in flight,
#   5. USR2 starts a new binary, then the old master is QUIT,
#   6. TERM stops everything within 5 s,
#   7. a worker is killed with SIGKILL,
#   8. a connect while nobody will accept it (listen address changed, QUIT).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Test::More;
use CordisTest;

my $t_start = time;
my $r1 = start_redis();
my $r2 = start_redis();
my @groups = ([1, "127.0.0.1:$r1->{port}"], [2, "127.0.0.1:$r2->{port}"]);
my @slots_a = (['0-511', 1], ['512-1023', 2]);
# B moves slots 100-199 from group 1 to group 2.
my @slots_b = (['0-99', 1], ['100-199', 2], ['200-511', 1], ['512-1023', 2]);
my $nclients = 8;
# The persistent clients' keys never live in the moved slots, so a value
# written before a move is read back from the same Redis after it.
my $keys = load_keys_avoiding($nclients, 10, [100, 199]);
my ($moved_key) = grep { my $s = codis_slot($_); $s >= 100 && $s <= 199 }
                  map { "moved:$_" } 0 .. 10000;

sub model { admin_get($_[0], '/api/proxy/model')->{json} // {} }
sub stats { admin_get($_[0], '/api/proxy/stats')->{json} // {} }

# True once a process is gone or a zombie.
sub gone {
    my ($pid) = @_;
    my $stat = read_file("/proc/$pid/stat");
    return 1 if $stat eq '';
    my ($state) = $stat =~ /^\d+ \(.*\) (\S)/s;
    return defined $state && ($state eq 'Z' || $state eq 'X');
}

# Worker pids of a master once there are exactly $n, none of @old among
# them, and each has its worker title.
sub workers_now {
    my ($master, $n, @old) = @_;
    my %old = map { $_ => 1 } @old;
    my @pids = worker_pids({ pid => $master });
    return unless @pids == $n && !grep { $old{$_} } @pids;
    return if grep { proc_title($_) !~ /^cordis: worker process \d+$/ } @pids;
    return \@pids;
}

sub summary {
    my ($res) = @_;
    my ($c, $h) = ($res->{client}, $res->{churner});
    return sprintf('%.1f s: %d requests (%d ok, %d failed, %d lost, %d wrong, %d errors, '
                   . '%d timeouts), %d closed (%d at a reply boundary), %d reconnects, '
                   . '%d refused; churner: %d connects, %d ok, %d refused, %d reset, %d failed',
                   $res->{seconds}, $c->{requests}, $c->{ok}, $c->{failed}, $c->{lost},
                   $c->{wrong}, $c->{errors}, $c->{timeouts}, $c->{closed},
                   $c->{closed_boundary}, $c->{reconnects}, $c->{refused} + $c->{connect_errors},
                   $h->{connects}, $h->{ok}, $h->{refused} + $h->{connect_errors}, $h->{reset},
                   $h->{failed});
}

sub load_notes {
    my ($res) = @_;
    return map { my $p = $_; map { "$p->{kind} $p->{id}: $_" } @{ $p->{notes} } }
           grep { @{ $_->{notes} } } @{ $res->{per} };
}

# The checks every part makes on its load; %allow: closed => 1 allows
# connections closed at a reply boundary.
sub check_load {
    my ($name, $res, %allow) = @_;
    my ($c, $h) = ($res->{client}, $res->{churner});
    note("$name: " . summary($res));
    my @notes = load_notes($res);
    my $fails = 0;
    ok($c->{requests} > 200 && $h->{ok} > 20, "$name: load ran ($c->{requests} requests, "
       . "$h->{ok} fresh connections)") or $fails++;
    is($c->{failed}, 0, "$name: 0 failed requests") or $fails++;
    is($c->{wrong}, 0, "$name: 0 wrong values") or $fails++;
    is($c->{refused} + $c->{connect_errors} + $h->{refused} + $h->{connect_errors}, 0,
       "$name: 0 refused connects") or $fails++;
    is($h->{reset} + $h->{failed}, 0, "$name: 0 fresh connections reset or unanswered")
        or $fails++;
    if ($allow{closed}) {
        is($c->{closed}, $c->{closed_boundary},
           "$name: persistent connections closed only at a reply boundary "
           . "($c->{closed_boundary})") or $fails++;
    } else {
        is($c->{closed}, 0, "$name: 0 persistent connections closed") or $fails++;
    }
    diag(join("\n", "$name: " . summary($res), @notes[0 .. ($#notes < 19 ? $#notes : 19)]))
        if $fails;
    return $c->{requests};
}

# ---- one cordis for parts 1-4 -------------------------------------------------

my %base = (groups => \@groups, proxy => { workers => 2 }, backend => { recv_timeout => '30s' });
my $conf = write_conf_in('main', %base, slots => \@slots_a);
my %keep = (port => $conf->{port}, admin_port => $conf->{admin_port});
my $c = start_cordis($conf);
my $master = $c->{pid};
my $w = wait_for(sub { workers_now($master, 2) }, 15);
ok($w, 'two workers running') or BAIL_OUT('cordis did not start its workers');

# ---- 1. ten in-place reloads under load ----------------------------------------

{
    my $load = load_start(port => $conf->{port}, clients => $nclients, keys => $keys,
                          seconds => 60);
    sleep 0.5;
    my ($moved_ok, $moved_back) = (0, 0);
    my $reloads_ok = 1;
    for my $i (1 .. 10) {
        my $odd = $i % 2;
        write_conf_in('main', %base, %keep, slots => $odd ? \@slots_b : \@slots_a,
                      session => { max_pipeline => $odd ? 20000 : 10000 },
                      backend => { recv_timeout => $odd ? '31s' : '30s' },
                      log => { level => $odd ? 'debug' : 'info' });
        kill 'HUP', $master;
        $reloads_ok &&= wait_for(sub { (model($conf)->{reload}{ok} // 0) >= $i }, 10);
        # The moved slot is served by its new group (fresh connections land
        # on either worker: every one of 6 in a row must get it right).
        my $want = $odd ? $r2 : $r1;
        my $got = wait_for(sub {
            for my $n (1 .. 6) {
                my $v = "hup$i-$n";
                my $r = eval { redis_cmd($conf->{port}, 'SET', $moved_key, $v) } // '';
                return 0 unless $r eq 'OK'
                    && (eval { redis_cmd($want->{port}, 'GET', $moved_key) } // '') eq $v;
            }
            return 1;
        }, 5);
        $moved_ok++ if $got && $odd;
        $moved_back++ if $got && !$odd;
        sleep 0.3;
    }
    sleep 0.3;
    my $res = load_stop($load);
    ok($reloads_ok, 'each HUP was applied before the next');
    my $n = check_load('10 in-place reloads', $res);
    note("requests during the 10 reloads: $n");
    is($moved_ok, 5, "slots 100-199 moved to group 2 on each odd HUP ($moved_key)");
    is($moved_back, 5, 'and back to group 1 on each even HUP');
    my $m = model($conf);
    is($m->{reload}{ok}, 10, '/api/proxy/model reload.ok == 10');
    is($m->{reload}{failed}, 0, 'reload.failed == 0');
    like($m->{reload}{last} // '', qr/^ok: applied in place/, 'reload.last: applied in place');
    is_deeply([worker_pids($c)], $w, 'the same two workers served all along (no new generation)');
    log_is_clean($c);
}

# ---- 2. worker count 2 -> 3 -> 1 under load ----------------------------------

{
    my $load = load_start(port => $conf->{port}, clients => $nclients, keys => $keys,
                          seconds => 60);
    sleep 0.5;
    my @old = @$w;
    write_conf_in('main', %base, %keep, slots => \@slots_a, proxy => { workers => 3 });
    kill 'HUP', $master;
    my $w3 = wait_for(sub { workers_now($master, 3, @old) }, 20);
    ok($w3, 'workers 2 -> 3: three new workers, the old two drained and exited');
    sleep 1;
    write_conf_in('main', %base, %keep, slots => \@slots_a, proxy => { workers => 1 });
    kill 'HUP', $master;
    my $w1 = wait_for(sub { workers_now($master, 1, @old, @{ $w3 || [] }) }, 20);
    ok($w1, 'workers 3 -> 1: one new worker, the old three drained and exited');
    sleep 1;
    my $res = load_stop($load);
    my $n = check_load('worker count 2 -> 3 -> 1', $res, closed => 1);
    note("requests during the generation changes: $n");
    my $m = model($conf);
    is($m->{reload}{ok}, 12, 'reload.ok == 12');
    is($m->{nworkers}, 1, 'model: nworkers == 1');
    $w = $w1;
    log_is_clean($c);
}

# ---- 3. HUP with a syntax error: the old config keeps serving ----------------

{
    my $s = resp_connect($conf->{port});
    is(resp_cmd($s, 'SET', 'bad:conf', 'before'), 'OK', 'a persistent connection works');
    my $good = read_file($conf->{path});
    my $line = 1 + ($good =~ tr/\n//);
    open my $fh, '>', $conf->{path} or die "$conf->{path}: $!";
    print $fh $good, "proxy_bogus = ;\n";
    close $fh;
    kill 'HUP', $master;
    ok(wait_for(sub { (model($conf)->{reload}{failed} // 0) == 1 }, 10),
       'bad file: reload.failed == 1');
    my $m = model($conf);
    is($m->{reload}{ok}, 12, 'reload.ok unchanged (12)');
    like($m->{reload}{last} // '', qr/^failed: .*\Q$conf->{path}\E:$line\b/,
         "reload.last names $conf->{path}:$line") or diag("reload.last: $m->{reload}{last}");
    is(resp_cmd($s, 'GET', 'bad:conf'), 'before', 'the persistent connection still works');
    is(redis_cmd($conf->{port}, 'SET', 'bad:conf', 'after'), 'OK', 'a fresh connection works');
    is(redis_cmd($conf->{port}, 'GET', 'bad:conf'), 'after', '... and reads back');
    is_deeply([worker_pids($c)], $w, 'the worker was not replaced');
    is($m->{nworkers}, 1, 'still one worker (the running config)');
    close $s;

    # Back to a good config with two workers for part 4.
    write_conf_in('main', %base, %keep, slots => \@slots_a);
    kill 'HUP', $master;
    ok(wait_for(sub { (model($conf)->{reload}{ok} // 0) == 13 }, 10), 'good file again: reload ok');
    $w = wait_for(sub { workers_now($master, 2, @$w) }, 20);
    ok($w, 'two workers again');
    log_is_clean($c);
}

# ---- 4. QUIT with 20,000 pipelined requests in flight ----------------------------

{
    my $N = 20_000;
    my $key = 'lifecycle:counter';
    is(redis_cmd($conf->{port}, 'DEL', $key) =~ /^[01]$/ ? 1 : 0, 1, 'counter reset');
    my $s = resp_connect($conf->{port});
    my $pipeline = ("*2\r\n\$4\r\nINCR\r\n\$" . length($key) . "\r\n$key\r\n") x $N;
    my $writer = send_bg($s, $pipeline);
    my ($buf, @got, $first_at) = ('');
    my $quit_sent = 0;
    my $end = time + 60;
    my ($eof, $err) = (0, '');
    while (@got < $N && time < $end) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.5) > 0;
        my $n = sysread($s, $buf, 1 << 20, length $buf);
        if (!$n) { $eof = 1; $err = defined $n ? 'EOF' : "$!"; last }
        while ($buf =~ /\G:(\d+)\r\n/gc) { push @got, $1 }
        $buf = substr($buf, pos($buf) // 0);
        if (!$quit_sent && @got) {
            kill 'QUIT', $master;    # the writer is still writing
            $quit_sent = @got;
        }
    }
    waitpid($writer, 0);
    my $writer_status = $?;
    note("QUIT sent after $quit_sent of $N replies had arrived");
    is(scalar @got, $N, "all $N pipelined replies arrived after QUIT")
        or diag("got " . scalar(@got) . " replies, then " . ($eof ? $err : 'timeout')
                . "; writer status $writer_status; leftover '" . substr($buf, 0, 60) . "'");
    my $in_order = !grep { $got[$_] != $_ + 1 } 0 .. $#got;
    ok($in_order, 'replies in order (INCR 1, 2, ...)');
    is($got[-1], $N, "the last INCR reply is $N");
    my ($rest, $closed) = read_until_eof($s, 10);
    ok($closed && $rest eq '', 'then the connection is closed');
    my $status = wait_exit($c, 60);
    is($status, 0, 'the master exited with status 0');
    ok(wait_for(sub { !grep { !gone($_) } @$w }, 5), 'its workers are gone');
    is(redis_cmd($r1->{port}, 'GET', $key) // redis_cmd($r2->{port}, 'GET', $key), $N,
       "the counter in Redis is $N");
    log_is_clean($c);
}

# ---- 5. USR2 binary upgrade under load, then QUIT of the old master ----------

my ($up_conf, $new_master, $new_workers, $up_c);
{
    $up_conf = write_conf_in('upgrade', groups => \@groups, slots => \@slots_a,
                             proxy => { workers => 2 });
    $up_c = start_cordis($up_conf);
    my $old = $up_c->{pid};
    my $old_workers = wait_for(sub { workers_now($old, 2) }, 15);
    ok($old_workers, 'upgrade: two workers running');
    my $ops0 = stats($up_conf)->{ops}{total} // 0;
    my $load = load_start(port => $up_conf->{port}, clients => $nclients, keys => $keys,
                          seconds => 60);
    sleep 1;
    my $before = stats($up_conf)->{ops}{total} // 0;
    kill 'USR2', $old;
    my $pid_file = $up_conf->{pid_file};
    $new_master = wait_for(sub {
        return unless -s "$pid_file.oldbin";
        my ($o) = read_file("$pid_file.oldbin") =~ /(\d+)/;
        my ($n) = read_file($pid_file) =~ /(\d+)/;
        return $o && $o == $old && $n && $n != $old ? $n : undef;
    }, 15);
    ok($new_master, "USR2: PID_FILE.oldbin holds the old master, PID_FILE the new one")
        or diag(read_file($up_conf->{log}));
    stop_at_exit($new_master) if $new_master;
    $new_workers = $new_master && wait_for(sub { workers_now($new_master, 2) }, 20);
    ok($new_workers, 'the new master started two workers');
    like(proc_title($new_master // 0), qr/^cordis: master process/, 'the new master has its title');
    sleep 1;
    # The last total the old master reports (its stats list its own workers).
    my %oldw = map { $_ => 1 } @{ $old_workers || [] };
    my $old_last = 0;
    for (1 .. 20) {
        my $st = stats($up_conf);
        my @pids = map { $_->{pid} } @{ $st->{workers} || [] };
        $old_last = $st->{ops}{total} if @pids && !grep { !$oldw{$_} } @pids;
    }
    kill 'QUIT', $old;
    my $status = wait_exit($up_c, 60);
    is($status, 0, 'QUIT: the old master exited with status 0');
    ok(wait_for(sub { !grep { !gone($_) } @{ $old_workers || [] } }, 5),
       'the old workers are gone');
    ok(!-e "$pid_file.oldbin", 'PID_FILE.oldbin removed');
    sleep 1;
    my $res = load_stop($load);
    my $n = check_load('USR2 upgrade + QUIT old master', $res, closed => 1);
    note("requests during the upgrade: $n");
    my $m = model($up_conf);
    is($m->{pid}, $new_master, '/api/proxy/model reports the new master pid');
    ok($new_master && !gone($new_master), 'the new master still runs');
    my $after = stats($up_conf)->{ops}{total} // 0;
    cmp_ok($after, '>=', $before, "ops.total did not go backwards across the upgrade "
           . "($before before USR2, $after after)");
    cmp_ok($after, '>=', $old_last, "ops.total ($after) is not below the old master's last "
           . "report ($old_last)");
    # Every command the clients got an answer to was counted once, by one
    # of the two masters' workers: the new master's total must hold them all.
    my $answered = $res->{client}{requests} - $res->{client}{failed}
                 + $res->{churner}{ok};
    cmp_ok($after - $ops0, '>=', $answered, "ops.total grew by the commands answered "
           . "during the upgrade ($answered; it grew by " . ($after - $ops0) . ')');
    is(redis_cmd($up_conf->{port}, 'PING'), 'PONG', 'the new master serves');
    $up_c->{pid} = $new_master;    # for log_is_clean's files: same log and stderr
    log_is_clean($up_c);
}

# ---- 6. TERM: everything exits within 5 s -------------------------------------

{
    my $load = load_start(port => $up_conf->{port}, clients => 4, churners => 1,
                          keys => $keys, seconds => 30);
    sleep 0.5;
    my @procs = ($new_master, @{ $new_workers || [] });
    my $t0 = time;
    kill 'TERM', $new_master;
    my $all_gone = wait_for(sub { !grep { !gone($_) } @procs }, 5);
    my $took = time - $t0;
    ok($all_gone, sprintf('TERM: master and workers exited within 5 s (%.2f s)', $took));
    load_stop($load);
    ok(!eval { resp_connect($up_conf->{port}); 1 }, 'nothing listens any more');
    log_is_clean($up_c);
}

# ---- 7. a worker killed with SIGKILL under load ---------------------------------

{
    my $cconf = write_conf_in('crash', groups => \@groups, slots => \@slots_a,
                              proxy => { workers => 2 });
    my $cc = start_cordis($cconf);
    my $workers = wait_for(sub { workers_now($cc->{pid}, 2) }, 15);
    ok($workers, 'crash: two workers running');
    my $ops0 = stats($cconf)->{ops}{total} // 0;
    my $load = load_start(port => $cconf->{port}, clients => $nclients, keys => $keys,
                          seconds => 60);
    sleep 1;
    my $ports = load_client_ports($load);
    my %on;    # client id => worker pid
    for my $id (keys %$ports) {
        $on{$id} = conn_owner_pid($cconf->{port}, $ports->{$id}, @{ $workers || [] }) // 0;
    }
    my %count;
    $count{$_}++ for values %on;
    # The victim: a worker with clients, leaving clients on the other one.
    my @ws = @{ $workers || [] };
    my ($victim) = grep { ($count{$_} // 0) > 0 && ($count{$_} // 0) < $nclients } @ws;
    $victim //= (sort { ($count{$b} // 0) <=> ($count{$a} // 0) } @ws)[0];
    is(scalar(grep { $_ } values %on), $nclients, 'each client was traced to its worker')
        or diag(explain(\%on));
    note("clients per worker: " . join(', ', map { "$_: " . ($count{$_} // 0) } @$workers)
         . "; killing $victim");
    kill 'KILL', $victim;
    my $respawned = wait_for(sub { workers_now($cc->{pid}, 2, $victim) }, 10);
    ok($respawned, 'the killed worker was respawned');
    sleep 1;
    my $res = load_stop($load);
    my ($cl, $h) = ($res->{client}, $res->{churner});
    note('worker crash: ' . summary($res));
    my (@bad_survivors, @bad_victims);
    for my $p (grep { $_->{kind} eq 'client' } @{ $res->{per} }) {
        my $k = $p->{counts};
        if (($on{ $p->{id} } // 0) == $victim) {
            push @bad_victims, "client $p->{id}: $k->{failed} failed, $k->{closed} closed"
                if $k->{failed} > 1 || $k->{closed} > 1;
        } elsif ($k->{failed} || $k->{closed}) {
            push @bad_survivors, "client $p->{id}: $k->{failed} failed, $k->{closed} closed";
        }
    }
    my @notes = load_notes($res);
    ok($cl->{requests} > 200 && $h->{ok} > 20, 'crash: load ran');
    ok(!@bad_survivors, 'clients of the surviving worker: 0 failed, 0 closed')
        or diag(join("\n", @bad_survivors, @notes));
    ok(!@bad_victims, "clients of the killed worker: at most the request in flight "
       . "failed, then they reconnected") or diag(join("\n", @bad_victims, @notes));
    is($cl->{wrong}, 0, 'crash: 0 wrong values');
    is($cl->{refused} + $cl->{connect_errors} + $h->{refused} + $h->{connect_errors}, 0,
       'crash: 0 refused connects (the master holds the listening socket)')
        or diag(join("\n", @notes));
    cmp_ok($h->{reset} + $h->{failed}, '<=', 1,
           'crash: at most the one fresh connection on the killed worker was reset');
    my $answered = $cl->{requests} - $cl->{failed} + $h->{ok};
    my $grew = (stats($cconf)->{ops}{total} // 0) - $ops0;
    cmp_ok($grew, '>=', $answered, "crash: ops.total counts every answered command "
           . "($answered answered, +$grew), the killed worker's row kept");
    my $t0 = time;
    my $status = stop_cordis($cc, 'TERM', 10);
    is($status, 0, 'TERM: exit status 0');
    cmp_ok(time - $t0, '<', 5, 'TERM: exited within 5 s');
    log_is_clean_but($cc, qr/killed by signal 9/);
}

# ---- 8. nobody accepts on a socket: connects are refused, not queued ----------
# When the listen address changes, or on QUIT, a connect must not be taken
# into a listen queue that no process will ever accept from (the client
# waits for the whole drain, then gets a reset): it is refused at once, or
# it is served.

# What a client sees connecting to $port and sending PING.
sub connect_outcome {
    my ($port) = @_;
    my $t0 = time;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp', Timeout => 3);
    return 'refused' if !$s && $! =~ /refused/i;
    return "connect failed: $!" unless $s;
    syswrite($s, "*1\r\n\$4\r\nPING\r\n");
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    select(my $rout = $rin, undef, undef, 8) > 0 or return 'accepted, no reply within 8 s';
    my $n = sysread($s, my $buf, 100);
    return 'served' if $n && $buf eq "+PONG\r\n";
    return sprintf('accepted, then %s after %.1f s', defined $n ? ($n ? "'$buf'" : 'EOF') : $!,
                   time - $t0);
}

{
    my %o = (groups => \@groups, slots => \@slots_a,
             proxy => { workers => 1, drain_timeout => '3s' });
    my $lconf = write_conf_in('listen', %o);
    my $lc = start_cordis($lconf);
    my $old_port = $lconf->{port};
    ok(wait_for(sub { workers_now($lc->{pid}, 1) }, 15), 'listen: one worker');
    # Half a request keeps the old worker draining (until drain_timeout).
    my $half_old = resp_connect($old_port);
    print $half_old "*2\r\n\$3\r\nGET\r\n";
    sleep 0.2;
    my $new_port = free_port();
    write_conf_in('listen', %o, port => $new_port, admin_port => $lconf->{admin_port});
    kill 'HUP', $lc->{pid};
    ok(wait_for(sub { my $x = eval { redis_cmd($new_port, 'PING') }; ($x // '') eq 'PONG' }, 10),
       "listen address changed: the new address $new_port serves");
    my $out = connect_outcome($old_port);
    like($out, qr/^(refused|served)$/,
         "a connect to the old address during the drain is refused or served ($out)");

    my $half_new = resp_connect($new_port);
    print $half_new "*2\r\n\$3\r\nGET\r\n";
    sleep 0.2;
    kill 'QUIT', $lc->{pid};
    sleep 0.3;
    $out = connect_outcome($new_port);
    like($out, qr/^(refused|served)$/, "a connect during the QUIT drain is refused or served ($out)");
    my $status = wait_exit($lc, 20);
    is($status, 0, 'QUIT: exit status 0 after the drain deadline');
    close $half_old;
    close $half_new;
    log_is_clean($lc);
}

note(sprintf('total %.1f s', time - $t_start));
done_testing();
