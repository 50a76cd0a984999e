#!/usr/bin/perl
# Jodis: cordis registers itself in ZooKeeper as codis-proxy does, against a
# real ZooKeeper server (the Debian package, started here) read back with
# ZooKeeper's own C command-line client (cli_mt) and transaction log tool.
# An unreachable ZooKeeper at start (cordis serves anyway, warns once,
# keeps trying); the node, its exact JSON data, ephemeral; the admin
# API's view of it; a node deleted by hand made again; a reload to Codis
# 2's path and back; ZooKeeper restarted within the session, down for
# longer, and paused past the session timeout (a new session); the node
# deleted by cordis at SIGQUIT; a dashboard's start and shutdown; digest
# auth and its ACL; a node held by another session; config errors.
use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Path ();
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

use CordisTest;

plan tests => 68;

$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(170);

my $ZK_JAR = '/usr/share/java/zookeeper.jar';
my $ZK_CLI = '/usr/lib/zookeeper/bin/cli_mt';
die "ZooKeeper is not installed ($ZK_JAR, $ZK_CLI; tools/bootstrap installs them)\n"
    unless -r $ZK_JAR && -x $ZK_CLI;

# --- ZooKeeper ----------------------------------------------------------------

my $zk_port = free_port();
my $zk_addr = "127.0.0.1:$zk_port";
my $zk_dir = tmpdir() . '/zookeeper';
my $zk_pid;
mkdir $zk_dir;
mkdir "$zk_dir/data";
{
    open my $fh, '>', "$zk_dir/zoo.cfg" or die "$zk_dir/zoo.cfg: $!";
    print $fh "tickTime=2000\ndataDir=$zk_dir/data\nclientPort=$zk_port\n",
              "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n";
    close $fh;
}

END {
    my $status = $?;
    if ($zk_pid) {
        kill 'KILL', $zk_pid;
        waitpid($zk_pid, 0);
    }
    $? = $status;
}

# Runs cli_mt with one command; returns everything it printed (stderr and
# stdout), or '' when it did not finish within $opt{timeout} s (5; no
# server). With $opt{auth} ("user:password") the command is a get sent
# after "addauth digest ..." through cli_mt's interactive mode, whose
# input stays open until the get's answer is in.
my $ncli = 0;
sub zk_cli {
    my ($cmd, %opt) = @_;
    my $out = "$zk_dir/cli-" . ++$ncli . '.out';
    local $SIG{PIPE} = 'IGNORE';
    pipe(my $in, my $feed) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $feed;
        open STDIN, '<&', $in;
        open STDOUT, '>', "$out.stdout";
        open STDERR, '>', $out;
        exec $ZK_CLI, '-h', $zk_addr, ($opt{auth} ? () : ('-c', $cmd)) or POSIX::_exit(127);
    }
    close $in;
    if ($opt{auth}) {
        syswrite($feed, "addauth digest $opt{auth}\n$cmd\n");
    } else {
        close $feed;
    }
    my $end = time + ($opt{timeout} // 5);
    my $got = 0;
    while (time < $end) {
        $got = waitpid($pid, WNOHANG);
        last if $got == $pid;
        # The get's answer ends with its Stat: "null", or ephemeralOwner last.
        close $feed if $opt{auth} && read_file($out) =~ /^Stat:\n(?:null\n|(?:.*\n)*?\tephemeralOwner = \S+\n)/m;
        sleep 0.02;
    }
    close $feed if $opt{auth};
    if ($got != $pid) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        return '';
    }
    return read_file($out) . read_file("$out.stdout");
}

# A node as cli_mt's "get" shows it: { rc, data, owner } (data and owner
# when rc is 0); rc is undef when cli_mt got no answer. %opt as zk_cli's.
sub zk_get {
    my ($path, %opt) = @_;
    my $text = zk_cli("get $path", %opt);
    my ($rc) = $text =~ /^\Q$path\E: rc = (-?\d+)$/m;
    my %node = (rc => $rc, text => $text);
    if (defined $rc && $rc == 0 && $text =~ /^ value_len = (\d+)\n/mg) {
        $node{data} = substr($text, pos($text), $1);
        ($node{owner}) = substr($text, pos($text) + $1) =~ /ephemeralOwner = (\S+)/;
    }
    return \%node;
}

# ZooKeeper's transaction log as text (its TxnLogToolkit), every file of it.
sub zk_txns {
    my $text = '';
    for my $log (sort glob "$zk_dir/data/version-2/log.*") {
        $text .= `java -cp $ZK_JAR org.apache.zookeeper.server.persistence.TxnLogToolkit $log 2>/dev/null`;
    }
    return $text;
}

# Polls until the node exists (rc 0) or not (rc -101); the last answer.
sub zk_wait {
    my ($path, $want_rc, $timeout) = @_;
    my $node;
    wait_for(sub {
        $node = zk_get($path, timeout => 3);
        return defined $node->{rc} && $node->{rc} == $want_rc;
    }, $timeout);
    return $node;
}

sub zk_up {
    return zk_cli('ls /', timeout => 2) =~ m{^/: rc = 0$}m;
}

sub zk_start {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$zk_dir/zookeeper.out";
        open STDERR, '>>', "$zk_dir/zookeeper.out";
        exec 'java', '-Xmx256m', '-cp', "/etc/zookeeper/conf:$ZK_JAR",
             '-Dzookeeper.admin.enableServer=false',
             'org.apache.zookeeper.server.quorum.QuorumPeerMain', "$zk_dir/zoo.cfg"
            or POSIX::_exit(127);
    }
    $zk_pid = $pid;
    wait_for(\&zk_up, 30) or die "ZooKeeper did not start:\n" . read_file("$zk_dir/zookeeper.out");
}

sub zk_kill {
    kill 'KILL', $zk_pid;
    waitpid($zk_pid, 0);
    undef $zk_pid;
}

# --- helpers ------------------------------------------------------------------

sub model {
    my ($conf) = @_;
    return admin_get($conf, '/api/proxy/model')->{json} // {};
}

# codis-proxy's node data for a cordis (its config, and the token and
# start time of its model): JSON, keys sorted, 4-space indent, no newline
# at the end.
sub codis_data {
    my ($conf, $m) = @_;
    return "{\n    \"addr\": \"127.0.0.1:$conf->{port}\",\n    \"admin\": \"127.0.0.1:$conf->{admin_port}\",\n"
         . "    \"start\": \"$m->{start_time}\",\n    \"state\": \"online\",\n"
         . "    \"token\": \"$m->{token}\"\n}";
}

sub count_lines {
    my ($file, $re) = @_;
    return scalar grep { $_ =~ $re } split /\n/, read_file($file);
}

# Codis's xauth (pkg/utils/rpc/crypto.go), as t/70 computes it.
sub codis_xauth {
    my (@segs) = @_;
    return substr(sha256_hex('Codis-XAuth' . join('', map { "-[$_]" } @segs)), 0, 32);
}

my $redis = start_redis();
my @route = (groups => [ [ 1, "127.0.0.1:$redis->{port}" ] ], slots => [ [ '0-1023', 1 ] ]);
my $jodis = "jodis_addr = \"$zk_addr\"; jodis_timeout = \"4s\";";

# --- ZooKeeper unreachable at start -------------------------------------------
# The ZooKeeper port is not listened on yet. jodis_timeout 1 s: each try
# waits 1 s for a session, then 1 s, 2 s, 4 s... between tries.

my $conf9 = write_conf_in('unreachable', @route,
                          extra => "codis = { jodis_addr = \"$zk_addr\"; jodis_timeout = \"1s\"; };\n");
my $c9 = start_cordis($conf9);
my $t9 = time;
is(redis_cmd($conf9->{port}, 'SET', 'unreachable', 'yes'), 'OK',
   'ZooKeeper unreachable: cordis serves clients anyway');
is(model($conf9)->{jodis_state}, 'connecting', '... and the model shows jodis_state "connecting"');
# Tries at 0-1 s and 2-3 s have failed by 3.5 s.
sleep(3.5 - (time - $t9)) if time - $t9 < 3.5;
is(count_lines($conf9->{log}, qr/jodis: cannot register/), 1,
   'after two failed tries, "jodis: cannot register" is logged once');

zk_start();
my $token9 = model($conf9)->{token};
my $path9 = "/jodis/cordis-test/proxy-$token9";
is(zk_wait($path9, 0, 15)->{rc}, 0, 'when ZooKeeper comes up, cordis registers (it kept trying)');
is(count_lines($conf9->{log}, qr/jodis: cannot register/), 1, '... and warned only once in all');
is(stop_cordis($c9), 0, 'that cordis stops cleanly');
log_is_clean($c9);

# --- registration -------------------------------------------------------------

my $conf = write_conf_in('main', @route, extra => "codis = { $jodis };\n");
my $c = start_cordis($conf);
my $model = model($conf);
my $token = $model->{token} // '';
my $path = "/jodis/cordis-test/proxy-$token";
my $node = zk_wait($path, 0, 10);
is($node->{rc}, 0, "registered at /jodis/<product>/proxy-<token> ($path)") or diag($node->{text});
is($node->{data}, codis_data($conf, $model), "the node's data is codis-proxy's JSON, exactly")
    or diag($node->{text});
ok(defined $node->{owner} && $node->{owner} !~ /^(0x)?0+$/, 'the node is ephemeral (ephemeralOwner not 0)')
    or diag($node->{text});
$model = model($conf);
is_deeply([ $model->{jodis_path}, $model->{jodis_state} ], [ $path, 'registered' ],
          'model: jodis_path, jodis_state "registered"');
{
    my $config = (admin_get($conf, '/proxy')->{json} // {})->{config} // {};
    is_deeply([ $config->{jodis_name}, $config->{jodis_addr} ], [ 'zookeeper', $zk_addr ],
              'GET /proxy: config.jodis_name "zookeeper", config.jodis_addr');
}

# --- deleted by hand: made again ----------------------------------------------

zk_cli("delete $path");
ok(wait_for(sub { count_lines($conf->{log}, qr/jodis: \Q$path\E had gone/) }, 10),
   'node deleted with cli_mt: cordis logs a warning');
$node = zk_wait($path, 0, 10);
is($node->{rc}, 0, '... and makes the node again');
is($node->{data}, codis_data($conf, $model), '... with the same data');

# --- reload to Codis 2's path and back ----------------------------------------

my $path2 = "/zk/codis/db_cordis-test/proxy/$token";
my %same = (@route, port => $conf->{port}, admin_port => $conf->{admin_port});
write_conf_in('main', %same, extra => "codis = { $jodis jodis_compatible = true; };\n");
kill 'HUP', $c->{pid};
$node = zk_wait($path2, 0, 10);
is($node->{rc}, 0, "reload with jodis_compatible: $path2 appears");
is($node->{data}, codis_data($conf, $model), '... with the same data');
is(zk_wait($path, -101, 10)->{rc}, -101, '... and the old node goes');
is(model($conf)->{jodis_path}, $path2, '... and the model shows the new path');
write_conf_in('main', %same, extra => "codis = { $jodis jodis_compatible = false; };\n");
kill 'HUP', $c->{pid};
is(zk_wait($path, 0, 10)->{rc}, 0, 'reload back to jodis_compatible false: the jodis node again');
is(zk_wait($path2, -101, 10)->{rc}, -101, "... and $path2 goes");

# --- ZooKeeper restarted, paused ----------------------------------------------

$node = zk_wait($path, 0, 10);
my $owner = $node->{owner} // '';
zk_kill();
sleep 1;
zk_start();
$node = zk_wait($path, 0, 15);
is($node->{rc}, 0, 'ZooKeeper killed and restarted after 1 s: the node is there');
is($node->{owner}, $owner, '... held by the same session (within the session timeout)');
is(redis_cmd($conf->{port}, 'SET', 'after-restart', 'yes'), 'OK', '... and cordis serves clients');

# Down for 6 s, past the 4 s session timeout, then started again. A
# ZooKeeper server restores the sessions of its transaction log at start
# with a fresh timeout, so the session (and the node) may well survive
# this: what counts is that the node is there once ZooKeeper is back.
zk_kill();
sleep 6;
zk_start();
$node = zk_wait($path, 0, 20);
is($node->{rc}, 0, 'ZooKeeper down 6 s, then started again: the node exists again')
    or diag($node->{text});
note('after the 6 s outage the node is held by ' . (($node->{owner} // '') eq $owner ? 'the same' : 'a new')
     . ' session');
is(redis_cmd($conf->{port}, 'SET', 'after-outage', 'yes'), 'OK', '... and cordis serves clients');

# A session ZooKeeper no longer knows: the server is stopped, its data
# wiped, and started again. cordis's client comes back with its old
# session, is told it expired, opens a new one and makes the parents and
# the node again. (A server paused past the timeout expires the session
# too, but races the client's reconnect.)
$owner = $node->{owner} // '';
zk_kill();
File::Path::remove_tree("$zk_dir/data");
File::Path::make_path("$zk_dir/data");
zk_start();
wait_for(sub { $node = zk_get($path, timeout => 3);
               ($node->{rc} // 1) == 0 && ($node->{owner} // $owner) ne $owner }, 20);
is($node->{rc}, 0, 'ZooKeeper restarted without its data (the session unknown to it): the node exists again')
    or diag($node->{text});
isnt($node->{owner} // $owner, $owner, '... held by a new session (ephemeralOwner differs)')
    or diag("owner before: $owner\n$node->{text}"
            . join("\n", grep { /jodis|zookeeper/ } split /\n/, read_file($conf->{log})));
ok(count_lines($conf->{log}, qr/jodis: ZooKeeper session expired/),
   '... and cordis logged that the session expired');
is(redis_cmd($conf->{port}, 'SET', 'after-expiry', 'yes'), 'OK', '... and cordis serves clients');

# --- SIGQUIT ------------------------------------------------------------------

$owner = $node->{owner} // '';
is(stop_cordis($c), 0, 'SIGQUIT: cordis stops cleanly');
is(zk_get($path)->{rc}, -101, 'SIGQUIT: the node is gone');
like(read_file($conf->{log}), qr/jodis: removed \Q$path\E/, '... and the log says "jodis: removed"');
# Deleted by cordis, not by the end of its session (which would take the
# ephemeral node with it, but after the drain).
{
    my $txns = zk_txns();
    like($txns, qr/^.* session 0x\Q$owner\E cxid \S+ zxid \S+ delete '\Q$path\E$/m,
         "... deleted by cordis's session (a delete in ZooKeeper's transaction log)")
        or diag(join("\n", grep { /\Q$owner\E/ } split /\n/, $txns));
}
log_is_clean($c);

# --- a dashboard-driven proxy -------------------------------------------------

my $conf6 = write_conf_in('dashboard', extra => "codis = { enabled = true; $jodis };\n");
my $c6 = start_cordis($conf6);
my $token6 = model($conf6)->{token} // '';
my $path6 = "/jodis/cordis-test/proxy-$token6";
my $xauth6 = codis_xauth('cordis-test', '', $token6);
sleep 1;    # time enough to register, were it going to
is(zk_get($path6)->{rc}, -101, 'codis.enabled: no node before the dashboard starts the proxy');
ok(!exists model($conf6)->{jodis_path}, '... and no jodis_path in the model');
is(admin_put($conf6, "/api/proxy/start/$xauth6")->{status}, 200, 'PUT /api/proxy/start/<xauth>: 200');
$node = zk_wait($path6, 0, 10);
is($node->{rc}, 0, '... and the node appears');
is($node->{data}, codis_data($conf6, model($conf6)), '... with codis-proxy\'s data');
is(admin_put($conf6, "/api/proxy/shutdown/$xauth6")->{status}, 200, 'PUT /api/proxy/shutdown/<xauth>: 200');
is(zk_wait($path6, -101, 10)->{rc}, -101, '... removes the node');
is(wait_exit($c6, 40), 0, '... and cordis stops gracefully, exit 0');
like(read_file($conf6->{log}), qr/jodis: removed \Q$path6\E/, '... having removed the node itself');
log_is_clean($c6);

# --- digest auth --------------------------------------------------------------

my $conf7 = write_conf_in('auth', @route, extra => "codis = { $jodis jodis_auth = \"user:secret\"; };\n");
my $c7 = start_cordis($conf7);
my $token7 = model($conf7)->{token} // '';
my $path7 = "/jodis/cordis-test/proxy-$token7";
ok(wait_for(sub { (model($conf7)->{jodis_state} // '') eq 'registered' }, 10),
   'jodis_auth "user:secret": registered (digest auth)');
like(zk_cli('ls /jodis/cordis-test'), qr/^\tproxy-\Q$token7\E$/m, '... the node is there (listed)');
$node = zk_get($path7);
is($node->{rc}, -102, '... and cli_mt without auth cannot read it (rc = -102, NOAUTH)') or diag($node->{text});
$node = zk_get($path7, auth => 'user:wrong');
is($node->{rc}, -102, '... nor with another password (digest ACL)') or diag($node->{text});
$node = zk_get($path7, auth => 'user:secret');
is($node->{data}, codis_data($conf7, model($conf7)), '... while with user:secret it reads the data')
    or diag($node->{text});
is(stop_cordis($c7), 0, 'that cordis stops cleanly');
is(zk_get($path7)->{rc}, -101, '... and its node is gone');
log_is_clean($c7);

# --- the node held by another session -----------------------------------------
# A node at our path that is not ours (here a persistent one, as a
# predecessor's session would hold it until ZooKeeper expires it): cordis
# waits for it to go, then registers.

my $conf10 = write_conf_in('held', extra => "codis = { enabled = true; $jodis };\n");
my $c10 = start_cordis($conf10);
my $token10 = model($conf10)->{token} // '';
my $path10 = "/jodis/cordis-test/proxy-$token10";
zk_cli("create $path10");
is(zk_get($path10)->{data}, 'new', 'a node made with cli_mt at the path of a proxy not started yet');
admin_put($conf10, '/api/proxy/start/' . codis_xauth('cordis-test', '', $token10));
ok(wait_for(sub { (model($conf10)->{jodis_state} // '') eq 'waiting' }, 10),
   'started, cordis finds its node held by another session: jodis_state "waiting"');
ok(wait_for(sub { count_lines($conf10->{log}, qr/jodis: \Q$path10\E is held by another ZooKeeper session/) }, 5),
   '... and logs a warning about it');
is(zk_get($path10)->{data}, 'new', '... and leaves the node alone');
zk_cli("delete $path10");
{
    my $want = codis_data($conf10, model($conf10));
    wait_for(sub { $node = zk_get($path10, timeout => 3); ($node->{data} // '') eq $want }, 10);
    is($node->{data}, $want, 'deleted with cli_mt: cordis makes its own node') or diag($node->{text});
}
ok(wait_for(sub { (model($conf10)->{jodis_state} // '') eq 'registered' }, 5), '... jodis_state "registered"');
is(stop_cordis($c10), 0, 'that cordis stops cleanly');
log_is_clean($c10);

# --- config errors ------------------------------------------------------------

my $nchecks = 0;
sub conf_check {
    my ($codis) = @_;
    my $cf = write_conf_in('check' . ++$nchecks, @route, extra => "codis = { $codis };\n");
    return run_cordis('-t', '-c', $cf->{path});
}
{
    my $r = conf_check("jodis_name = \"etcd\"; $jodis");
    isnt($r->{rc}, 0, 'jodis_name "etcd": config error');
    like($r->{err}, qr/codis\.jodis_name/, '... naming codis.jodis_name') or diag($r->{err});
    $r = conf_check("jodis_auth = \"nopassword\"; $jodis");
    isnt($r->{rc}, 0, 'jodis_auth "nopassword": config error');
    like($r->{err}, qr/codis\.jodis_auth/, '... naming codis.jodis_auth') or diag($r->{err});
    $r = conf_check('jodis_addr = "127.0.0.1:2181/x";');
    isnt($r->{rc}, 0, 'jodis_addr with a chroot path: config error');
    like($r->{err}, qr/codis\.jodis_addr/, '... naming codis.jodis_addr') or diag($r->{err});
    $r = conf_check('jodis_name = "zookeeper"; jodis_addr = "127.0.0.1:2181,127.0.0.2:2181"; '
                    . 'jodis_auth = "user:secret"; jodis_timeout = "4s"; jodis_compatible = true;');
    is($r->{rc}, 0, 'every jodis option set right: accepted') or diag($r->{err});
}
