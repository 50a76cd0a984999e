#!/usr/bin/perl
# The master/worker process model: worker count and titles, the pid file,
# routing through the workers, respawn, signals (QUIT, TERM, INT, USR1,
# HUP: bad file, slots in place, new worker generation), cordis -s, -d, and
# workers that outlive a killed master only long enough to notice.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Compress::Zlib qw(crc32);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Socket qw(SOL_SOCKET SO_RCVTIMEO);
use Time::HiRes qw(time);
use Test::More;
use CordisTest;

# A cordis that never answers must fail the test, not hang it: every read
# from the proxy times out, and the whole file has a deadline (the END
# blocks still stop every process).
$SIG{ALRM} = sub { die "t/10-process.t: still running after 180 s\n" };
alarm 180;

my $r1 = start_redis();
my $r2 = start_redis();
my @groups = ([1, "127.0.0.1:$r1->{port}"], [2, "127.0.0.1:$r2->{port}"]);
my @slots = (['0-511', 1], ['512-1023', 2]);

sub slot_of { crc32($_[0]) % 1024 }

# A key whose slot is served by group 2 in the initial map.
my ($key2) = grep { slot_of($_) >= 512 } map { "key:$_" } 0 .. 100;

# A connection to the proxy whose reads give up after 10 s.
sub proxy_connect {
    my ($port) = @_;
    my $s = resp_connect($port);
    setsockopt($s, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 10, 0)) or die "setsockopt: $!";
    return $s;
}

# One command on a fresh proxy connection.
sub proxy_cmd {
    my ($port, @args) = @_;
    my $s = proxy_connect($port);
    my $r = resp_cmd($s, @args);
    close $s;
    return $r;
}

# True when the peer closes $s within $secs (EOF or reset), false when the
# connection stays open (or has more data) that long.
sub closed_within {
    my ($s, $secs) = @_;
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    return 0 unless select(my $rout = $rin, undef, undef, $secs);
    my $n = sysread($s, my $buf, 1);
    return !$n;
}

# True once a process is gone or a zombie (exited; nobody reaped it yet).
sub gone {
    my ($pid) = @_;
    my $stat = read_file("/proc/$pid/stat");
    return 1 if $stat eq '';
    my ($state) = $stat =~ /^\d+ \(.*\) (\S)/s;
    return defined $state && ($state eq 'Z' || $state eq 'X');
}

# pid => worker number, from "cordis: worker process N".
sub worker_index {
    my ($pid) = @_;
    my ($n) = proc_title($pid) =~ /^cordis: worker process (\d+)$/;
    return $n;
}

# The worker pids once there are exactly $n and each has its title.
sub workers_ready {
    my ($c, $n) = @_;
    my @pids = worker_pids($c);
    return unless @pids == $n;
    return unless !grep { !defined worker_index($_) } @pids;
    return \@pids;
}

# GET through $n fresh connections (spread over the workers by the kernel);
# returns the list of distinct answers, or "error: ..." entries.
sub get_fresh {
    my ($port, $key, $n) = @_;
    my %seen;
    for (1 .. $n // 10) {
        my $v = eval { proxy_cmd($port, 'GET', $key) };
        my $text = $@ ? "error: $@" : ref $v ? "error: $v->{err}" : $v // '(nil)';
        $seen{$text}++;
    }
    return sort keys %seen;
}

# Starts $n processes that each GET $key on fresh connections in a loop,
# expecting $want. Returns a sub that stops them and returns the number of
# requests made and the unexpected answers (at most 10 per process).
sub start_traffic {
    my ($port, $key, $want, $n) = @_;
    my $stop = tmpdir() . '/traffic-stop-' . int(rand(1e9));
    my @kids;
    for my $i (1 .. $n) {
        my $file = "$stop.$i";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($count, @bad) = (0);
            until (-e $stop) {
                my $v = eval { proxy_cmd($port, 'GET', $key) };
                my $text = $@ ? "error: $@" : ref $v ? "error: $v->{err}" : $v // '(nil)';
                chomp $text;
                $count++;
                push @bad, $text if $text ne $want && @bad < 10;
            }
            open my $fh, '>', $file or POSIX::_exit(1);
            print $fh join("\n", $count, @bad), "\n";
            close $fh;
            POSIX::_exit(0);    # not exit: the END blocks belong to the parent
        }
        push @kids, [$pid, $file];
    }
    return sub {
        open my $fh, '>', $stop or die "$stop: $!";
        close $fh;
        my ($total, @bad) = (0);
        for my $k (@kids) {
            waitpid($k->[0], 0);
            my ($count, @b) = split /\n/, read_file($k->[1]);
            $total += $count // 0;
            push @bad, @b;
            push @bad, "traffic process $k->[0] failed" unless defined $count;
        }
        return ($total, @bad);
    };
}

# SIGSTOP, then wait until each process is really stopped.
sub stop_workers {
    my (@pids) = @_;
    kill 'STOP', @pids;
    wait_for(sub {
        !grep { (read_file("/proc/$_/stat") =~ /^\d+ \(.*\) (\S)/s)[0] ne 'T' } @pids;
    }, 5) or diag("workers @pids did not stop");
}

sub count_matches {
    my ($text, $re) = @_;
    my $n = () = $text =~ /$re/g;
    return $n;
}

# Line number (1-based) of the first line of $text matching $re.
sub line_of {
    my ($text, $re) = @_;
    my @lines = split /\n/, $text;
    for my $i (0 .. $#lines) {
        return $i + 1 if $lines[$i] =~ $re;
    }
    return;
}

is(slot_of('foo'), 289, 'crc32("foo") % 1024 is slot 289');
ok(defined $key2, "found a key in group 2's half ($key2)");

# ---- one cordis through most of the lifecycle --------------------------------

my %main_opt = (groups => \@groups, slots => \@slots, proxy => { workers => 2 },
                log => { level => 'debug' });
my $conf = write_conf_in('main', %main_opt);
%main_opt = (%main_opt, port => $conf->{port}, admin_port => $conf->{admin_port});
my $c = start_cordis($conf);
my $master = $c->{pid};

my $ready = wait_for(sub { workers_ready($c, 2) }, 10);
ok($ready, 'workers = 2 starts exactly 2 worker processes')
    or diag('workers: ' . join(' ', worker_pids($c)));
my @workers = $ready ? @$ready : worker_pids($c);
is(scalar @workers, 2, 'two children of the master');
like(proc_title($master), qr/^cordis: master process \S*cordis -c \Q$conf->{path}\E$/,
     'master title: "cordis: master process BIN -c CONF"');
is_deeply([sort map { proc_title($_) } @workers],
          ['cordis: worker process 0', 'cordis: worker process 1'],
          'worker titles: "cordis: worker process 0" and "... 1"');
is(read_file($conf->{pid_file}), "$master\n", 'the pid file holds the master pid');

# Requests through the proxy land on the backend of their slot.
my $s = proxy_connect($conf->{port});
is(resp_cmd($s, 'SET', 'foo', 'v1'), 'OK', 'SET foo through the proxy');
is(resp_cmd($s, 'GET', 'foo'), 'v1', 'GET foo through the proxy');
is(resp_cmd($s, 'SET', $key2, 'two'), 'OK', "SET $key2 through the proxy");
close $s;
is(redis_cmd($r1->{port}, 'GET', 'foo'), 'v1', 'foo (slot 289) is on group 1');
is(redis_cmd($r2->{port}, 'GET', 'foo'), undef, 'foo is not on group 2');
is(redis_cmd($r2->{port}, 'GET', $key2), 'two', "$key2 (slot " . slot_of($key2) . ') is on group 2');
is(redis_cmd($r1->{port}, 'GET', $key2), undef, "$key2 is not on group 1");
is_deeply([get_fresh($conf->{port}, 'foo', 20)], ['v1'],
          'every worker answers GET foo (20 fresh connections)');

# ---- a killed worker is replaced, with the same number ----------------------

my ($victim) = grep { (worker_index($_) // -1) == 0 } @workers;
my ($survivor) = grep { $_ != ($victim // 0) } @workers;
ok($victim, 'found worker 0');
kill 'KILL', $victim;
my $t0 = time;
my $respawned = wait_for(sub {
    my $w = workers_ready($c, 2) or return;
    return if grep { $_ == $victim } @$w;
    my ($new) = grep { worker_index($_) == 0 } @$w;
    return $new;
}, 1);
ok($respawned, sprintf('a new worker 0 appears within 1 s (took %.2f s)', time - $t0));
isnt($respawned // 0, $victim, 'the new worker 0 has a new pid');
is(worker_index($respawned // 0), 0, 'its title says worker process 0');
is_deeply([sort { $a <=> $b } worker_pids($c)], [sort { $a <=> $b } grep { defined } $survivor, $respawned],
          'worker 1 was left alone');
is_deeply([get_fresh($conf->{port}, 'foo', 20)], ['v1'], 'the proxy still answers after the respawn');
like(read_file($conf->{log}), qr/worker 0 \(pid $victim\) was killed by signal 9/,
     'the master logs how worker 0 died');
@workers = worker_pids($c);

# ---- HUP with a bad file: keeps running the old config ---------------------

$conf = write_conf_in('main', %main_opt, slots => [['0-511', 1], ['512-1023', 9]]);
my $bad_line = line_of($conf->{text}, qr/group = 9/);
kill 'HUP', $master;
my $failed = wait_for(sub {
    read_file($conf->{log}) =~ /reload failed: \Q$conf->{path}\E:(\d+): slots\[1\]\.group: no group with id 9/
        ? $1 : 0;
}, 5);
is($failed, $bad_line, "HUP with a bad file: the log names $conf->{path}:$bad_line and the problem");
ok(!gone($master), 'the master still runs');
is_deeply([worker_pids($c)], \@workers, 'the same workers still run');
is_deeply([get_fresh($conf->{port}, 'foo')], ['v1'], 'and still serve the old slot map');
is(proxy_cmd($conf->{port}, 'GET', $key2), 'two', "group 2 still serves $key2");

$conf = write_conf_in('main', %main_opt);
open my $fh, '>>', $conf->{path} or die "$conf->{path}: $!";
print $fh "oops = ;\n";      # a syntax error on the line after the text
close $fh;
my $eof_line = 1 + ($conf->{text} =~ tr/\n//);
kill 'HUP', $master;
$failed = wait_for(sub {
    read_file($conf->{log}) =~ /reload failed: \Q$conf->{path}\E:(\d+): syntax error/ ? $1 : 0;
}, 5);
is($failed, $eof_line, "HUP with a syntax error: the log names $conf->{path}:$eof_line");
is_deeply([worker_pids($c)], \@workers, 'the same workers still run');
is_deeply([get_fresh($conf->{port}, 'foo')], ['v1'], 'and still serve');

# ---- HUP moving slot 289 to group 2: applied in place -----------------------

my $keep = proxy_connect($conf->{port});
is(resp_cmd($keep, 'GET', 'foo'), 'v1', 'a client connected before the reload');
is(redis_cmd($r2->{port}, 'SET', 'foo', 'on-two'), 'OK', 'a different foo on group 2');
my @moved = (['0-288', 1], ['289', 2], ['290-511', 1], ['512-1023', 2]);
$conf = write_conf_in('main', %main_opt, slots => \@moved);
kill 'HUP', $master;
ok(wait_for(sub { (get_fresh($conf->{port}, 'foo', 1))[0] eq 'on-two' }, 5),
   'after HUP, foo is read from group 2');
ok(wait_for(sub { join(',', get_fresh($conf->{port}, 'foo', 10)) eq 'on-two' }, 5),
   'every worker routes slot 289 to group 2');
is(resp_cmd($keep, 'GET', 'foo'), 'on-two', 'the client connected before the reload sees it too');
is(resp_cmd($keep, 'SET', 'foo', 'v2'), 'OK', 'SET foo after the move');
is(redis_cmd($r2->{port}, 'GET', 'foo'), 'v2', 'lands on group 2');
is(redis_cmd($r1->{port}, 'GET', 'foo'), 'v1', 'and not on group 1');
is(resp_cmd($keep, 'GET', $key2), 'two', 'other slots did not move');
close $keep;
is_deeply([worker_pids($c)], \@workers, 'no worker was restarted for a slot change');
like(read_file($conf->{log}), qr/reload done: applied in place/, 'the log says it was applied in place');

# ---- USR1 reopens the log file ---------------------------------------------

my $old_log = "$conf->{log}.1";
rename $conf->{log}, $old_log or die "rename: $!";
kill 'USR1', $master;
ok(wait_for(sub { read_file($conf->{log}) =~ /log file reopened/ }, 5),
   'after USR1 the master writes to a new file at the configured path');
kill 'HUP', $master;
my $gen_re = qr/ (\d+) worker (\d+): applied route generation (\d+)/;
my $fresh = wait_for(sub {
    my $text = read_file($conf->{log});
    return unless $text =~ /reload done/;
    my %by_pid;
    while ($text =~ /$gen_re/g) { $by_pid{$1} = $3 }
    return (grep { !defined $by_pid{$_} } @workers) ? undef : \%by_pid;
}, 5);
ok($fresh, 'after the next HUP both workers log to the new file')
    or diag(read_file($conf->{log}));
my ($new_gen) = values %{ $fresh || {} };
$new_gen //= 'none';
unlike(read_file($old_log), qr/applied route generation $new_gen\b/,
       'the moved-away file gets none of the new lines');
unlike(read_file($old_log), qr/received SIGUSR1(?s:.*)reload done/,
       'nothing after the USR1 went to the moved-away file');
like(read_file($old_log), qr/received SIGUSR1/, 'the moved-away file kept what came before');

# ---- cordis -s reload / reopen -------------------------------------------------

my $hups = count_matches(read_file($conf->{log}), qr/received SIGHUP/);
my $r = run_cordis('-s', 'reload', '-c', $conf->{path});
is($r->{rc}, 0, 'cordis -s reload exits 0') or diag($r->{err});
ok(wait_for(sub { count_matches(read_file($conf->{log}), qr/received SIGHUP/) == $hups + 1 }, 5),
   'the master got SIGHUP');
my $usr1 = count_matches(read_file($conf->{log}), qr/received SIGUSR1/);
$r = run_cordis('-s', 'reopen', '-c', $conf->{path});
is($r->{rc}, 0, 'cordis -s reopen exits 0') or diag($r->{err});
ok(wait_for(sub { count_matches(read_file($conf->{log}), qr/received SIGUSR1/) == $usr1 + 1 }, 5),
   'the master got SIGUSR1');

# ---- HUP changing proxy.workers: a new generation --------------------------

@workers = worker_pids($c);
$conf = write_conf_in('main', %main_opt, slots => \@moved, proxy => { workers => 3 });
# Clients keep opening fresh connections all through the switch: every
# request must be answered.
my $traffic = start_traffic($conf->{port}, 'foo', 'v2', 4);
kill 'HUP', $master;
my $gen2 = wait_for(sub {
    my $w = workers_ready($c, 3) or return;
    return if grep { my $p = $_; grep { $_ == $p } @workers } @$w;
    return $w;
}, 15);
my ($requests, @errors) = $traffic->();
ok($gen2, 'workers = 3 after HUP: three new workers, the old two are gone')
    or diag('workers: ' . join(' ', map { "$_=" . proc_title($_) } worker_pids($c)));
cmp_ok($requests, '>', 0, "clients made $requests requests during the switch");
is_deeply(\@errors, [], 'every request made during the switch was answered');
is_deeply([sort map { proc_title($_) } @{ $gen2 || [] }],
          [map { "cordis: worker process $_" } 0 .. 2], 'titles: worker process 0, 1, 2');
ok(gone($_), "old worker $_ exited") for @workers;
my $log = read_file($conf->{log});
like($log, qr/proxy\.workers changed, starting worker generation 2/, 'the log names the change');
for my $p (@{ $gen2 || [] }) {
    like($log, qr/started worker \d \(pid $p, generation 2\)/, "worker $p belongs to generation 2");
}
for my $p (@workers) {
    like($log, qr/worker \d \(pid $p\) exited with status 0/, "old worker $p exited with status 0");
}
is_deeply([get_fresh($conf->{port}, 'foo', 20)], ['v2'], 'the new workers serve the current slot map');

# ---- a request already sent when the old generation is told to quit --------
# The workers are stopped (as if busy) while the request arrives and the
# reload tells them to quit: when they run again, the request is in their
# socket and must be answered, not dropped with the connection.

@workers = @{ $gen2 || [] };
my $pending = proxy_connect($conf->{port});
is(resp_cmd($pending, 'PING'), 'PONG', 'a client connected to a generation 2 worker');
stop_workers(@workers);
resp_send($pending, 'GET', 'foo');
$conf = write_conf_in('main', %main_opt, slots => \@moved, proxy => { workers => 2 });
kill 'HUP', $master;
my $gen3 = wait_for(sub {
    my @p = grep { my $p = $_; !grep { $_ == $p } @workers } worker_pids($c);
    return (@p == 2 && !grep { !defined worker_index($_) } @p) ? \@p : undef;
}, 10);
kill 'CONT', @workers;
ok($gen3, 'workers = 2 after HUP: generation 3 starts two workers');
my $reply = eval { resp_read($pending) };
$reply = "error: $@" if $@;
is($reply, 'v2', 'a request sent before the HUP is answered by its old worker');
close $pending;
ok(wait_for(sub { !grep { !gone($_) } @workers }, 5), 'the generation 2 workers exit');
is_deeply([sort map { proc_title($_) } @{ $gen3 || [] }],
          ['cordis: worker process 0', 'cordis: worker process 1'], 'titles: worker process 0, 1');
like(read_file($conf->{log}), qr/proxy\.workers changed, starting worker generation 3/,
     'the log names generation 3');
is_deeply([get_fresh($conf->{port}, 'foo', 30)], ['v2'],
          'two workers serve every connection on the three listening sockets');
@workers = @{ $gen3 || [] };

# ---- cordis -s quit, with a request in flight -----------------------------------

$pending = proxy_connect($conf->{port});
is(resp_cmd($pending, 'PING'), 'PONG', 'a client connected before the stop');
stop_workers(@workers);
resp_send($pending, 'GET', 'foo');
$r = run_cordis('-s', 'quit', '-c', $conf->{path});
is($r->{rc}, 0, 'cordis -s quit exits 0') or diag($r->{err});
ok(wait_for(sub { read_file($conf->{log}) =~ /received SIGQUIT/ }, 5), 'the master got SIGQUIT');
kill 'CONT', @workers;
$reply = eval { resp_read($pending) };
$reply = "error: $@" if $@;
is($reply, 'v2', 'a request sent before QUIT is answered');
ok(closed_within($pending, 10), 'then the connection is closed');
close $pending;
my $status = wait_exit($c, 15);
is($status, 0, 'the master exits with status 0 after QUIT');
ok(wait_for(sub { !grep { !gone($_) } @workers }, 5), 'every worker is gone');
ok(!-e $conf->{pid_file}, 'the pid file is removed');
ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$conf->{port}", Timeout => 1),
   'nothing listens on the proxy port any more');
log_is_clean_but($c, qr/worker 0 \(pid $victim\) was killed by signal 9/);
log_is_clean_but({ conf => { log => $old_log }, stderr => '/dev/null' },
                 qr/worker 0 \(pid $victim\) was killed by signal 9/);

# ---- QUIT, TERM and INT ------------------------------------------------------

for my $case (['QUIT', 10], ['TERM', 3], ['INT', 3]) {
    my ($sig, $limit) = @$case;
    my $cf = write_conf_in(lc $sig, groups => \@groups, slots => \@slots, proxy => { workers => 2 });
    my $cc = start_cordis($cf);
    my $w = wait_for(sub { workers_ready($cc, 2) }, 10) || [];
    is(scalar @$w, 2, "$sig: two workers running");
    my $idle = proxy_connect($cf->{port});
    is(resp_cmd($idle, 'GET', 'foo'), 'v1', "$sig: an idle client connected");
    my $t = time;
    kill $sig, $cc->{pid};
    my $st = wait_exit($cc, $limit);
    my $took = time - $t;
    ok(defined $st, sprintf("$sig: the master exits within %d s (took %.2f s)", $limit, $took));
    is($st, 0, "$sig: exit status 0");
    ok(wait_for(sub { !grep { !gone($_) } @$w }, 2), "$sig: every worker is gone");
    ok(closed_within($idle, 2), "$sig: the idle client was disconnected");
    close $idle;
    stop_cordis($cc, 'KILL') if $cc->{pid};
    log_is_clean($cc);
}

# ---- -d: daemonize ---------------------------------------------------------

{
    my $cf = write_conf_in('daemon', groups => \@groups, slots => \@slots, proxy => { workers => 2 });
    unlink $cf->{pid_file};
    my $dr = run_cordis('-d', '-c', $cf->{path});
    is($dr->{rc}, 0, '-d: the command exits 0') or diag($dr->{err});
    cmp_ok($dr->{secs}, '<', 5, '-d: ... promptly');
    my ($pid) = read_file($cf->{pid_file}) =~ /^(\d+)\n\z/;
    ok($pid, '-d: the pid file names the master');
    $pid //= 0;
    stop_at_exit($pid);
    ok($pid && !gone($pid), '-d: the master keeps running');
    my ($ppid) = read_file("/proc/$pid/stat") =~ /^\d+ \(.*\) \S+ (\d+)/s;
    isnt($ppid // $$, $$, '-d: the master is not a child of the caller');
    like(proc_title($pid), qr/^cordis: master process /, '-d: its title');
    my $dc = { pid => $pid, conf => $cf, stderr => '/dev/null' };
    my $w = wait_for(sub { workers_ready($dc, 2) }, 10) || [];
    is(scalar @$w, 2, '-d: two workers');
    is_deeply([get_fresh($cf->{port}, 'foo', 5)], ['v1'], '-d: the proxy answers');
    $dr = run_cordis('-s', 'stop', '-c', $cf->{path});
    is($dr->{rc}, 0, '-d: cordis -s stop exits 0') or diag($dr->{err});
    ok(wait_for(sub { gone($pid) }, 5), '-d: the master stops');
    ok(wait_for(sub { !grep { !gone($_) } @$w }, 5), '-d: its workers are gone');
    ok(!-e $cf->{pid_file}, '-d: the pid file is removed');
    log_is_clean($dc);
}

# ---- a master killed with SIGKILL: workers notice and exit --------------------

{
    my $cf = write_conf_in('orphan', groups => \@groups, slots => \@slots, proxy => { workers => 2 });
    my $cc = start_cordis($cf);
    my $w = wait_for(sub { workers_ready($cc, 2) }, 10) || [];
    is(scalar @$w, 2, 'orphans: two workers running');
    is_deeply([get_fresh($cf->{port}, 'foo', 5)], ['v1'], 'orphans: the proxy answers');
    kill 'KILL', $cc->{pid};
    my $st = wait_exit($cc, 5);
    ok(defined $st && ($st & 127) == 9, 'orphans: the master died of SIGKILL');
    my $t = time;
    ok(wait_for(sub { !grep { !gone($_) } @$w }, 5),
       sprintf('orphans: both workers exit by themselves (%.2f s)', time - $t))
        or kill 'KILL', @$w;
    my $l = read_file($cf->{log});
    for my $p (@$w) {
        like($l, qr/ $p worker \d: draining \(master exited\)/, "orphans: worker $p saw the control channel close");
    }
    ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$cf->{port}", Timeout => 1),
       'orphans: nothing listens on the proxy port any more');
    log_is_clean($cc);
}

stop_redis($r1);
stop_redis($r2);
done_testing();
