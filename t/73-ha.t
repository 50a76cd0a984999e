#!/usr/bin/perl
# High availability: cordis follows Redis Sentinel for each group's primary
# (sentinel.h, ha.h), against real redis-server primaries and replicas and
# three real redis-sentinel processes, all started here and stopped by pid.
#
# Two groups, each a primary and one replica (--replicaof); slots 0-511 ->
# group 1, 512-1023 -> group 2; two workers. The sentinels monitor group 1
# under cordis's default name "<product_name>-<gid>" ("cordis-test-1") and
# group 2 under an explicit name (groups[].sentinel = "ha-two"), quorum 2,
# down-after 1 s, failover-timeout 3 s.
#
#   1. at start: ha.sentinel.servers all "up", ha.primaries {}, Codis's
#      sentinels.servers, no masters/switched
#   2. failover under load: four clients pipeline SET/GET on keys of both
#      groups while group 1's primary is SIGKILLed; the switch is logged
#      with the config-epoch, group 1 writes come back, every reply is in
#      order and right (or an error naming the old primary), group 2 never
#      fails; the window and the error count are printed
#   3. after it: sentinels.masters/switched, ha.primaries.1 (sentinel), the
#      slot table shows the new primary (and the old one as its replica)
#   4. the old primary restarted as a master: Sentinel makes it a replica;
#      clients see nothing change, values land on the new primary
#   5. SIGHUP with the file unchanged keeps the learned primary; a file that
#      names a new primary for group 1 is taken as is
#   6. PUT /api/proxy/primary: an operator's choice (source "admin"), errors
#      for an unknown group and a bad address, "" lifts it
#   7. one sentinel killed: logged once, shown "down"; a failover of group 2
#      is still followed with 2 of 3 sentinels; the sentinel restarted is
#      "up" again and does not move the primary back
#   8. config errors: sentinel.addrs, groups[].sentinel
use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes qw(sleep time);

use CordisTest;

plan tests => 63;

$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(200);
$SIG{PIPE} = 'IGNORE';
my $t_begin = time;

die "redis-sentinel is not installed (Debian package redis-sentinel)\n"
    unless grep { -x "$_/redis-sentinel" } split /:/, $ENV{PATH};

my $json = JSON::PP->new->allow_nonref->canonical;

# --- Redis: two groups, a primary and a replica each -----------------------------

my @P = map { start_redis() } 1 .. 2;      # group g's primary is $P[g - 1]
my @Q = map { start_redis(args => [ '--replicaof', '127.0.0.1', $P[$_]{port} ]) } 0 .. 1;
my @PA = map { "127.0.0.1:$_->{port}" } @P;
my @QA = map { "127.0.0.1:$_->{port}" } @Q;
my @NAMES = ('cordis-test-1', 'ha-two');   # what the sentinels call group 1 and 2

sub info_field {
    my ($port, $section, $field) = @_;
    my $text = eval { redis_cmd($port, 'INFO', $section) } // '';
    return ref $text ? '' : ($text =~ /^\Q$field\E:(\S*)/m)[0] // '';
}

for my $g (0 .. 1) {
    wait_for(sub { info_field($Q[$g]{port}, 'replication', 'master_link_status') eq 'up' }, 10)
        or die "group " . ($g + 1) . "'s replica did not connect to its primary\n";
}

# --- three sentinels -------------------------------------------------------------

my @S;   # { port, pid, conf }

sub start_sentinel {
    my ($s) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec 'redis-sentinel', $s->{conf} or POSIX::_exit(127);
    }
    stop_at_exit($pid);
    $s->{pid} = $pid;
    wait_for(sub {
        my $r = eval { redis_cmd($s->{port}, 'PING') } // '';
        return !ref $r && $r eq 'PONG';
    }, 10) or die "redis-sentinel on $s->{port} did not start\n";
}

sub kill_sentinel {
    my ($s) = @_;
    kill 'KILL', $s->{pid};
    CordisTest::_reap($s->{pid}, 10);
    delete $s->{pid};
}

for my $i (0 .. 2) {
    my $port = free_port();
    my $dir = tmpdir() . "/sentinel-$port";
    mkdir $dir;
    my $text = "port $port\nbind 127.0.0.1\ndaemonize no\ndir \"$dir\"\n"
             . "logfile \"$dir/sentinel.log\"\n";
    for my $g (0 .. 1) {
        $text .= "sentinel monitor $NAMES[$g] 127.0.0.1 $P[$g]{port} 2\n"
               . "sentinel down-after-milliseconds $NAMES[$g] 1000\n"
               . "sentinel failover-timeout $NAMES[$g] 3000\n";
    }
    open my $fh, '>', "$dir/sentinel.conf" or die "$dir/sentinel.conf: $!";
    print $fh $text;
    close $fh;
    push @S, { port => $port, conf => "$dir/sentinel.conf", dir => $dir };
    start_sentinel($S[-1]);
}
my @SA = map { "127.0.0.1:$_->{port}" } @S;

# SENTINEL MASTER <name> on one sentinel, as a hash.
sub sentinel_master {
    my ($s, $name) = @_;
    my $r = eval { redis_cmd($s->{port}, 'SENTINEL', 'MASTER', $name) };
    return {} unless ref $r eq 'ARRAY';
    return { @$r };
}

# The sentinels know each other and both replicas before anything is killed.
wait_for(sub {
    for my $s (@S) {
        for my $name (@NAMES) {
            my $m = sentinel_master($s, $name);
            return 0 unless ($m->{'num-other-sentinels'} // 0) == 2 && ($m->{'num-slaves'} // 0) == 1;
        }
    }
    return 1;
}, 15) or die "the sentinels did not find each other and the replicas\n";

# --- cordis ----------------------------------------------------------------------

# The groups and the sentinel section as text (write_conf_in's groups option
# knows no replicas); %primary overrides a group's primary and replicas.
sub ha_text {
    my (%o) = @_;
    my @g = map { $o{$_} // [ $PA[$_ - 1], $QA[$_ - 1] ] } 1 .. 2;
    return "sentinel = { addrs = \"" . join(', ', @SA) . "\"; };\n"
         . "groups = (\n"
         . "  { id = 1; primary = \"$g[0][0]\"; replicas = [ \"$g[0][1]\" ]; },\n"
         . "  { id = 2; primary = \"$g[1][0]\"; replicas = [ \"$g[1][1]\" ]; sentinel = \"$NAMES[1]\"; }\n"
         . ");\n";
}

my %copt = (slots => [ [ '0-511', 1 ], [ '512-1023', 2 ] ], proxy => { workers => 2 });
my $conf = write_conf_in('main', %copt, extra => ha_text());
$copt{port} = $conf->{port};
$copt{admin_port} = $conf->{admin_port};
my $cordis = start_cordis($conf);
my $CP = $conf->{port};

sub stats { return admin_get($conf, '/api/proxy/stats')->{json} // {} }
sub model { return admin_get($conf, '/api/proxy/model')->{json} // {} }
sub slot_entry {
    my ($slot) = @_;
    my $list = admin_get($conf, '/api/proxy/slots')->{json};
    return ref $list eq 'ARRAY' ? $list->[$slot] // {} : {};
}
sub cordis_log { return read_file($conf->{log}) }
sub show { return $json->encode($_[0]) }

# The state of each sentinel as cordis shows it: addr => state.
sub sentinel_states {
    my $servers = (((stats()->{ha} // {})->{sentinel} // {})->{servers}) // [];
    return { map { $_->{addr} => $_->{state} } @$servers };
}

# A slot of group 1 and one of group 2.
my ($slot1, $slot2) = (0, 512);

# Sends SET key val through cordis on a fresh connection; the reply.
sub set_via_cordis {
    my ($key, $val) = @_;
    my $r = eval { redis_cmd($CP, 'SET', $key, $val) };
    return $r // { err => $@ };
}

# --- load clients ------------------------------------------------------------------

# A client forked to SET/GET its keys through cordis in pipelined rounds
# (SET k v; GET k for every key), checking each reply: SET answers OK or an
# error; GET answers the value just written when its SET said OK, else an
# error, nil or a value this client wrote to that key before. Errors are
# counted per group and must name $o{old} (the killed primary) when given.
# When $dir/kill appears (the time of a kill), the first group 1 write sent
# after it that answers OK is noted. Results go to a JSON file.

sub load_client {
    my ($id, $dir, $keys, %o) = @_;
    my $parent = getppid();
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    $SIG{ALRM} = 'DEFAULT';
    $SIG{__DIE__} = 'DEFAULT';
    my %r = (rounds => 0, ops => { 1 => 0, 2 => 0 }, errors => { 1 => 0, 2 => 0 },
             wrong => 0, order => 0, lost => 0, bad_errors => 0, samples => [],
             first_ok_after_kill => undef, kill => undef, errors_after_kill => 0);
    my $sample = sub { push @{ $r{samples} }, sprintf('%.3f c%d %s', time, $id, $_[0]) if @{ $r{samples} } < 12 };
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$CP", Proto => 'tcp', Timeout => 5);
    my $end = time + ($o{seconds} // 60);
    my $seq = 0;
    my $buf = '';
    if (!$s) {
        $r{lost}++;
        $sample->("connect: $!");
        $stop = 1;
    } else {
        setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
        binmode $s;
    }
    while (!$stop && time < $end && getppid() == $parent) {
        if (!defined $r{kill} && -e "$dir/kill") {
            ($r{kill}) = read_file("$dir/kill") =~ /([\d.]+)/;
        }
        my (@batch, $out);
        for my $kg (@$keys) {
            my ($key, $g) = @$kg;
            my $val = "c$id:$key:" . ++$seq;
            push @batch, [ 'SET', $key, $g, $val, $seq ], [ 'GET', $key, $g, $val, $seq ];
            $out .= resp_encode('SET', $key, $val) . resp_encode('GET', $key);
        }
        my $sent = time;
        my $w = syswrite($s, $out);
        if (!defined $w || $w != length $out) {
            $r{lost}++;
            $sample->("write failed: $!");
            last;
        }
        $r{rounds}++;
        my $set_ok;
        for my $b (@batch) {
            my ($cmd, $key, $g, $val, $myseq) = @$b;
            my ($st, $v) = CordisTest::_load_read_reply($s, \$buf, 5);
            if ($st ne 'ok') {
                $r{lost}++;
                $sample->("$cmd $key: $st ($v)");
                $stop = 1;
                last;
            }
            $r{ops}{$g}++;
            if (ref $v eq 'HASH') {
                $r{errors}{$g}++;
                $r{errors_after_kill}++ if defined $r{kill} && $g == 1;
                if (defined $o{old} ? $v->{err} !~ /\Q$o{old}\E/ : 1) {
                    $r{bad_errors}++;
                    $sample->("$cmd $key: -$v->{err}");
                }
                $set_ok = 0 if $cmd eq 'SET';
                next;
            }
            if ($cmd eq 'SET') {
                if (defined $v && !ref $v && $v eq 'OK') {
                    $set_ok = 1;
                    if ($g == 1 && defined $r{kill} && $sent > $r{kill}
                        && !defined $r{first_ok_after_kill}) {
                        $r{first_ok_after_kill} = time;
                    }
                } else {
                    $r{order}++;
                    $set_ok = undef;
                    $sample->("SET $key: " . (defined $v ? show($v) : 'nil'));
                }
                next;
            }
            # GET
            if ($set_ok) {
                next if defined $v && !ref $v && $v eq $val;
            } elsif (defined $set_ok) {
                # The SET failed: the key holds what it held (maybe less,
                # after a failover), or maybe this value.
                next if !defined $v;
                next if !ref $v && $v =~ /^c\Q$id:$key\E:(\d+)$/ && $1 <= $myseq;
            }
            if (defined $v && !ref $v && $v eq 'OK') { $r{order}++ } else { $r{wrong}++ }
            $sample->("GET $key: " . (defined $v ? show($v) : 'nil') . ", wrote $val");
        }
        sleep 0.002;
    }
    open my $fh, '>', "$dir/client-$id.tmp" or POSIX::_exit(1);
    print $fh JSON::PP->new->encode(\%r);
    close $fh;
    rename "$dir/client-$id.tmp", "$dir/client-$id.json";
    POSIX::_exit(0);
}

# Starts $n clients; keys per client: ($per1 in group 1, $per2 in group 2).
sub clients_start {
    my ($name, $n, $per1, $per2, %o) = @_;
    my $dir = tmpdir() . "/load-$name";
    mkdir $dir or die "$dir: $!";
    my @pids;
    for my $id (0 .. $n - 1) {
        my @keys = ((map { [ key_in_group("ha:$name:c$id", 1, $_), 1 ] } 0 .. $per1 - 1),
                    (map { [ key_in_group("ha:$name:c$id", 2, $_), 2 ] } 0 .. $per2 - 1));
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            eval { load_client($id, $dir, \@keys, %o) };
            print STDERR "load client $id: $@" if $@;
            POSIX::_exit(1);
        }
        push @pids, $pid;
        kill_child_at_exit($pid);
    }
    return { dir => $dir, pids => \@pids };
}

sub clients_stop {
    my ($h) = @_;
    kill 'TERM', @{ $h->{pids} };
    my @res;
    for my $pid (@{ $h->{pids} }) {
        my $end = time + 15;
        my $got = 0;
        while (time < $end) {
            $got = waitpid($pid, WNOHANG);
            last if $got == $pid || $got == -1;
            sleep 0.02;
        }
        if ($got != $pid && $got != -1) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
        forget_child($pid);
    }
    for my $id (0 .. $#{ $h->{pids} }) {
        my $r = eval { $json->decode(read_file("$h->{dir}/client-$id.json")) };
        push @res, $r // { lost => 1, wrong => 0, order => 0, bad_errors => 0, rounds => 0,
                           ops => {}, errors => {}, samples => [ "client $id did not report" ] };
    }
    return \@res;
}

sub sum_of {
    my ($res, $f) = @_;
    my $n = 0;
    $n += ref $f ? $f->($_) // 0 : $_->{$f} // 0 for @$res;
    return $n;
}
sub samples_of { my ($res) = @_; return join("\n", map { @{ $_->{samples} } } @$res) }

# --- 1. at start -------------------------------------------------------------------

{
    my $up = wait_for(sub {
        my $ha = (stats()->{ha} // {})->{sentinel} // {};
        my %st = map { $_->{addr} => $_->{state} } @{ $ha->{servers} // [] };
        return 3 == (grep { ($st{$_} // '') eq 'up' } @SA)
            && ($ha->{answered} // 0) == 3 && ($ha->{checked_unix} // 0) > 0;
    }, 10);
    my $st = stats();
    ok($up && @{ $st->{ha}{sentinel}{servers} // [] } == 3,
       'start: ha.sentinel.servers has the 3 sentinels, all "up" (a check done, 3 answered)')
        or diag(show($st->{ha}));
    is_deeply([ map { $_->{addr} } @{ $st->{ha}{sentinel}{servers} // [] } ], \@SA,
              '... in the order of sentinel.addrs');
    is_deeply($st->{ha}{primaries}, {}, 'start: ha.primaries is {} (the sentinels agree with the file)');
    is_deeply($st->{sentinels}{servers}, \@SA, "start: Codis's sentinels.servers lists the 3 addresses");
    ok(!exists $st->{sentinels}{masters} && !exists $st->{sentinels}{switched},
       'start: no sentinels.masters, no switched') or diag(show($st->{sentinels}));
    like(cordis_log(), qr/sentinel: following 3 sentinels/, 'the log says cordis follows 3 sentinels');
    my ($k1, $k2) = (key_in_group('ha:start', 1), key_in_group('ha:start', 2));
    ok(set_via_cordis($k1, 'one') eq 'OK' && set_via_cordis($k2, 'two') eq 'OK'
       && (redis_cmd($P[0]{port}, 'GET', $k1) // '') eq 'one'
       && (redis_cmd($P[1]{port}, 'GET', $k2) // '') eq 'two',
       'start: writes through cordis land on the primaries of the file');
}

# --- 2. failover of group 1 under load ----------------------------------------------

my ($old1, $new1) = ($PA[0], $QA[0]);
my $epoch1;
{
    my $load = clients_start('fo', 4, 2, 2, old => $old1, seconds => 60);
    sleep 1;    # steady state first
    my $tk = time;
    open my $fh, '>', "$load->{dir}/kill.tmp" or die;
    print $fh "$tk\n";
    close $fh;
    rename "$load->{dir}/kill.tmp", "$load->{dir}/kill";
    stop_redis($P[0], 'KILL');
    my $line = wait_for(sub {
        cordis_log() =~ /^(.*group 1: primary \Q$old1\E -> \Q$new1\E \(sentinel, config-epoch (\d+)\).*)$/m
            ? [ $1, $2 ] : undef;
    }, 15);
    my $t_switch = time;
    ok($line, "failover: the log shows \"group 1: primary $old1 -> $new1 (sentinel, config-epoch N)\"")
        or diag(join("\n", grep { /sentinel|group 1/ } split /\n/, cordis_log()));
    $epoch1 = $line ? $line->[1] : undef;
    my $k1 = key_in_group('ha:probe', 1);
    my $back = wait_for(sub { (set_via_cordis($k1, 'after') // '') eq 'OK' }, 15);
    ok($back, 'failover: writes on group 1 succeed again within 15 s');
    sleep 1;    # some load on the new primary
    my $res = clients_stop($load);
    my $errors1 = sum_of($res, sub { $_[0]{errors}{1} });
    my $errors2 = sum_of($res, sub { $_[0]{errors}{2} });
    my @firsts = grep { defined } map { $_->{first_ok_after_kill} } @$res;
    my $window = @firsts ? (sort { $a <=> $b } @firsts)[0] - $tk : undef;
    my $last_first = @firsts ? (sort { $b <=> $a } @firsts)[0] - $tk : undef;
    diag(sprintf('failover window: kill -> first good group 1 write %s s (slowest client %s s); '
                 . 'the switch logged %.3f s after the kill; %d group 1 errors (%d requests), '
                 . '%d group 2 errors (%d requests), %d rounds',
                 defined $window ? sprintf('%.3f', $window) : 'never',
                 defined $last_first ? sprintf('%.3f', $last_first) : 'never',
                 $t_switch - $tk, $errors1, sum_of($res, sub { $_[0]{ops}{1} }), $errors2,
                 sum_of($res, sub { $_[0]{ops}{2} }), sum_of($res, 'rounds')));
    ok((4 == grep { ($_->{ops}{1} // 0) > 0 && ($_->{ops}{2} // 0) > 0 } @$res),
       'failover: all 4 clients ran on both groups') or diag(samples_of($res));
    ok(@firsts == 4 && defined $last_first && $last_first < 15,
       'failover: every client wrote to group 1 again after the kill, within 15 s')
        or diag(samples_of($res));
    is(sum_of($res, 'wrong'), 0, 'failover: no wrong value (every GET: the value written, or an error)')
        or diag(samples_of($res));
    is(sum_of($res, 'order') + sum_of($res, 'lost'), 0,
       'failover: replies in order, every request answered, no connection lost')
        or diag(samples_of($res));
    is($errors2, 0, 'failover: group 2 keys never failed') or diag(samples_of($res));
    is(sum_of($res, 'bad_errors'), 0, "failover: every error names the old primary ($old1)")
        or diag(samples_of($res));
}

# --- 3. after the failover -------------------------------------------------------------

{
    my $st = stats();
    is_deeply($st->{sentinels}{masters}, { 1 => $new1 }, "after: sentinels.masters is {\"1\": \"$new1\"}")
        or diag(show($st->{sentinels}));
    ok(JSON::PP::is_bool($st->{sentinels}{switched}) && $st->{sentinels}{switched},
       'after: sentinels.switched is true');
    my $p1 = $st->{ha}{primaries}{1} // {};
    ok(($p1->{source} // '') eq 'sentinel' && ($p1->{primary} // '') eq $new1
       && ($p1->{config_primary} // '') eq $old1 && defined $epoch1 && ($p1->{epoch} // -1) == $epoch1,
       'after: ha.primaries.1: source "sentinel", the new primary, the epoch logged, config_primary the old')
        or diag(show($st->{ha}));
    my ($e0, $e512) = (slot_entry($slot1), slot_entry($slot2));
    ok(($e0->{backend_addr} // '') eq $new1 && ($e512->{backend_addr} // '') eq $PA[1],
       'after: GET /api/proxy/slots: group 1 on the new primary, group 2 unchanged')
        or diag(show([ $e0, $e512 ]));
    is_deeply($e0->{replica_groups}, [ [ $old1 ] ], 'after: the old primary is group 1\'s replica now');
}

# --- 4. the old primary back ----------------------------------------------------------------

{
    my $t0 = time;
    $P[0] = start_redis(port => $P[0]{port});     # no --replicaof: it starts as a master
    my $k = key_in_group('ha:back', 1);
    ok(set_via_cordis($k, 'v1') eq 'OK' && (redis_cmd($CP, 'GET', $k) // '') eq 'v1'
       && (redis_cmd($Q[0]{port}, 'GET', $k) // '') eq 'v1'
       && !defined redis_cmd($P[0]{port}, 'GET', $k),
       'old primary back as a master: writes through cordis still go to the new primary');
    my $load = clients_start('back', 2, 2, 1, seconds => 60);
    my $role = wait_for(sub {
        my $r = eval { redis_cmd($P[0]{port}, 'ROLE') };
        return ref $r eq 'ARRAY' && $r->[0] eq 'slave' && $r->[2] == $Q[0]{port} ? 1 : 0;
    }, 25);
    ok($role, "Sentinel makes the old primary a replica of $new1")
        or diag(show(eval { redis_cmd($P[0]{port}, 'ROLE') }));
    diag(sprintf('the old primary was a replica %.1f s after its restart', time - $t0));
    wait_for(sub { info_field($P[0]{port}, 'replication', 'master_link_status') eq 'up' }, 10);
    sleep 0.5;
    my $res = clients_stop($load);
    ok(sum_of($res, 'rounds') > 0 && sum_of($res, sub { $_[0]{errors}{1} + $_[0]{errors}{2} })
       + sum_of($res, 'wrong') + sum_of($res, 'order') + sum_of($res, 'lost') == 0,
       'clients running meanwhile saw no error and no wrong value')
        or diag(samples_of($res));
    ok(set_via_cordis($k, 'v2') eq 'OK' && (redis_cmd($Q[0]{port}, 'GET', $k) // '') eq 'v2'
       && wait_for(sub { (redis_cmd($P[0]{port}, 'GET', $k) // '') eq 'v2' }, 5),
       'a write through cordis lands on the new primary and reaches the old one by replication');
    my @switches = cordis_log() =~ /group 1: primary /g;
    ok(@switches == 1 && (slot_entry($slot1)->{backend_addr} // '') eq $new1,
       'cordis did not move group 1 again') or diag(scalar(@switches) . ' switches logged');
}

# --- 5. reload ----------------------------------------------------------------------------

sub reload_and_wait {
    my $before = (model()->{reload} // {})->{ok} // 0;
    kill 'HUP', $cordis->{pid};
    return wait_for(sub { ((model()->{reload} // {})->{ok} // 0) > $before }, 10);
}

{
    ok(reload_and_wait(), 'SIGHUP with the file unchanged: reloaded');
    my $p1 = stats()->{ha}{primaries}{1} // {};
    ok(($p1->{source} // '') eq 'sentinel' && ($p1->{primary} // '') eq $new1,
       '... ha.primaries.1 is still the sentinels\' primary') or diag(show($p1));
    my $k = key_in_group('ha:hup', 1);
    ok(set_via_cordis($k, 'h1') eq 'OK' && (redis_cmd($Q[0]{port}, 'GET', $k) // '') eq 'h1'
       && (slot_entry($slot1)->{backend_addr} // '') eq $new1,
       '... and writes still go to the new primary');

    # The file names the new primary now (and the old one as the replica).
    write_conf_in('main', %copt, extra => ha_text(1 => [ $new1, $old1 ]));
    ok(reload_and_wait(), 'SIGHUP with group 1\'s primary changed in the file: reloaded');
    my $st = stats();
    ok(!exists $st->{ha}{primaries}{1}, '... ha.primaries no longer lists group 1')
        or diag(show($st->{ha}));
    ok(!exists $st->{sentinels}{masters} && !exists $st->{sentinels}{switched},
       '... nor sentinels.masters/switched') or diag(show($st->{sentinels}));
    like(cordis_log(), qr/group 1: the file names its primary now \(\Q$new1\E\)/,
         '... the log says the file names the primary now');
    ok(set_via_cordis($k, 'h2') eq 'OK' && (redis_cmd($Q[0]{port}, 'GET', $k) // '') eq 'h2'
       && (slot_entry($slot1)->{backend_addr} // '') eq $new1,
       '... the file\'s primary serves group 1');
}

# --- 6. PUT /api/proxy/primary ---------------------------------------------------------------

sub put_primary {
    my ($body) = @_;
    return admin_put($conf, '/api/proxy/primary', content => ref $body ? $json->encode($body) : $body,
                     headers => { 'Content-Type' => 'application/json' });
}

{
    my $r = put_primary({ group => 2, primary => $QA[1] });
    ok($r->{status} == 200 && ref $r->{json} eq 'HASH' && JSON::PP::is_bool($r->{json}{ok})
       && $r->{json}{ok}, "PUT primary {group 2, $QA[1]}: 200 {\"ok\":true}")
        or diag("$r->{status} $r->{content}");
    is(slot_entry($slot2)->{backend_addr}, $QA[1], '... the route shows it');
    my $p2 = stats()->{ha}{primaries}{2} // {};
    ok(($p2->{source} // '') eq 'admin' && ($p2->{primary} // '') eq $QA[1],
       '... ha.primaries.2.source is "admin"') or diag(show($p2));
    like(cordis_log(), qr/group 2: primary \Q$PA[1]\E -> \Q$QA[1]\E \(admin\)/, '... and it is logged');

    $r = put_primary({ group => 9, primary => $QA[1] });
    is($r->{status}, 400, 'PUT primary for group 9: 400');
    like($r->{content}, qr/no group with id 9/, '... naming "no group with id 9"');
    $r = put_primary({ group => 2, primary => 'nonsense' });
    ok($r->{status} == 400 && $r->{content} =~ /nonsense.*not an address/,
       'PUT primary with a bad address: 400 saying it is not an address')
        or diag("$r->{status} $r->{content}");
    $r = put_primary('{"group": "2"}');
    is($r->{status}, 400, 'PUT primary with a bad body: 400');
    is(slot_entry($slot2)->{backend_addr}, $QA[1], 'the refused requests changed nothing');

    $r = put_primary({ group => 2, primary => '' });
    is($r->{status}, 200, 'PUT primary {group 2, ""}: 200') or diag($r->{content});
    ok(wait_for(sub { (slot_entry($slot2)->{backend_addr} // '') eq $PA[1] }, 5),
       "... the sentinels' primary ($PA[1]) is back");
    ok(!exists stats()->{ha}{primaries}{2}, '... and ha.primaries has no group 2');
    my $k = key_in_group('ha:admin', 2);
    ok(set_via_cordis($k, 'a1') eq 'OK' && (redis_cmd($P[1]{port}, 'GET', $k) // '') eq 'a1',
       '... writes on group 2 go to it');
}

# --- 7. one sentinel down, a failover of group 2 ----------------------------------------------

{
    my ($s3, $a3) = ($S[2], $SA[2]);
    kill_sentinel($s3);
    my $t_killed = time;
    ok(wait_for(sub {
        my $st = sentinel_states();
        return ($st->{$a3} // '') eq 'down' && ($st->{$SA[0]} // '') eq 'up'
            && ($st->{$SA[1]} // '') eq 'up';
    }, 5), "one sentinel killed: ha.sentinel.servers shows $a3 \"down\", the others \"up\"")
        or diag(show(stats()->{ha}));

    my ($old2, $new2) = ($PA[1], $QA[1]);
    my $tk = time;
    stop_redis($P[1], 'KILL');
    my $line = wait_for(sub {
        cordis_log() =~ /group 2: primary \Q$old2\E -> \Q$new2\E \(sentinel, config-epoch (\d+)\)/
            ? [ $1 ] : undef;
    }, 25);
    ok($line, "failover of group 2 with 2 of 3 sentinels: \"group 2: primary $old2 -> $new2 (sentinel, config-epoch N)\"")
        or diag(join("\n", grep { /sentinel|group 2/ } split /\n/, cordis_log()));
    diag(sprintf('group 2 switched %.3f s after its primary was killed', time - $tk));
    my $k = key_in_group('ha:two', 2);
    ok(wait_for(sub { (set_via_cordis($k, 't1') // '') eq 'OK' }, 10)
       && (redis_cmd($Q[1]{port}, 'GET', $k) // '') eq 't1',
       '... writes on group 2 go to the new primary');
    my $st = stats();
    ok((($st->{sentinels}{masters} // {})->{2} // "") eq $new2
       && (($st->{ha}{primaries}{2} // {})->{source} // '') eq 'sentinel',
       '... sentinels.masters.2 and ha.primaries.2 (source "sentinel") show it')
        or diag(show([ $st->{sentinels}, $st->{ha} ]));
    is($st->{ha}{sentinel}{answered}, 2, '... 2 sentinels answered the check');

    my $log_at = length cordis_log();
    start_sentinel($s3);
    my $t_up = time;
    ok(wait_for(sub { (sentinel_states()->{$a3} // '') eq 'up' }, 35),
       'the sentinel restarted: "up" again') or diag(show(stats()->{ha}));
    diag(sprintf('cordis saw the restarted sentinel %.1f s after its start', time - $t_up));
    like(cordis_log(), qr/sentinel \Q$a3\E: subscribed again/, '... and the log says so');
    my @down = grep { /\[(warn|error)\]/ } cordis_log() =~ /^(.*sentinel \Q$a3\E: .*)$/mg;
    ok(@down == 1 && $down[0] =~ /trying again/,
       sprintf('while it was away (%.1f s) it was logged once', $t_up - $t_killed))
        or diag(join("\n", @down));
    sleep 1;    # the check its return triggers (its view of group 2 may be old)
    my @moves = substr(cordis_log(), $log_at) =~ /group 2: primary /g;
    ok(!@moves && (slot_entry($slot2)->{backend_addr} // '') eq $new2,
       '... group 2 stays on the new primary') or diag(show(slot_entry($slot2)));
}

# --- 8. config errors ---------------------------------------------------------------------------

{
    my $n = 0;
    my $check = sub {
        my ($extra) = @_;
        my $cf = write_conf_in('check' . ++$n, extra => $extra);
        return run_cordis('-t', '-c', $cf->{path});
    };
    my $r = $check->("sentinel = { addrs = \"nonsense\"; };\n");
    isnt($r->{rc}, 0, 'sentinel.addrs = "nonsense": config error');
    like($r->{err}, qr/sentinel\.addrs/, '... naming sentinel.addrs') or diag($r->{err});
    $r = $check->("groups = ( { id = 1; primary = \"$QA[0]\"; sentinel = \"a b\"; } );\n");
    isnt($r->{rc}, 0, 'groups[0].sentinel = "a b": config error');
    like($r->{err}, qr/groups\[0\]\.sentinel/, '... naming groups[0].sentinel') or diag($r->{err});
    $r = $check->("sentinel = { addrs = \"$SA[0] $SA[1],$SA[2]\"; timeout = \"500ms\"; };\n"
                  . "groups = ( { id = 1; primary = \"$QA[0]\"; replicas = [ \"$PA[0]\" ]; "
                  . "sentinel = \"g-1\"; } );\n");
    is($r->{rc}, 0, 'a sentinel section with addresses split by spaces and commas: accepted')
        or diag($r->{err});
}

# --- the end ----------------------------------------------------------------------------------

is(stop_cordis($cordis), 0, 'SIGQUIT: cordis stops cleanly');
my $old2 = $PA[1];
log_is_clean_but($cordis, qr/primary \S+ -> \S+/, qr/backend \S+ .*unavailable/);
{
    # Warnings and errors: only the expected ones (backends killed here,
    # primaries switched, the sentinel killed here, a new primary not yet
    # answering ROLE as a master).
    my @odd = grep {
        /\[(warn|error)\]/
        && !/backend \Q$old1\E \(db \d+\) unavailable/
        && !/backend \Q$old2\E \(db \d+\) unavailable/
        && !/group \d: primary \S+ -> \S+ \((sentinel, config-epoch \d+|admin|config)\)/
        && !/sentinel \Q$SA[2]\E: .*trying again/
        && !/does not say it is a master yet|ROLE on \S+ failed/
    } split /\n/, cordis_log();
    ok(!@odd, 'no unexpected warning or error in the log') or diag(join("\n", @odd[0 .. ($#odd < 9 ? $#odd : 9)]));
}
for my $r (@P, @Q) {
    stop_redis($r) if $r->{pid};
}
for my $s (@S) {
    if ($s->{pid}) {
        kill 'TERM', $s->{pid};
        CordisTest::_reap($s->{pid}, 10);
        delete $s->{pid};
    }
}
diag(sprintf('t/73-ha.t ran %.1f s', time - $t_begin));
