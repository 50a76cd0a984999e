#!/usr/bin/perl
# cordis -t -c FILE: checks a config file and exits. A good file says
# "test is successful" and exits 0; a bad one exits 1 and names
# file:line: option: problem on stderr. Also -v, -h and a bad flag.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET;
use Test::More;
use CordisTest;

my $dir = tmpdir();
my $srcdir = $ENV{CORDIS_SRCDIR} || "$FindBin::Bin/..";

# Writes $text to $dir/$name and returns the path.
sub conf_file {
    my ($name, $text) = @_;
    my $path = "$dir/$name";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}

# No sanitizer report, leak or crash in what a run printed.
sub run_is_clean {
    my ($r, $what) = @_;
    unlike($r->{err} . $r->{out}, qr/AddressSanitizer|LeakSanitizer|runtime error:/,
           "$what: no sanitizer report");
}

sub good {
    my ($path, $what) = @_;
    my $r = run_cordis('-t', '-c', $path);
    is($r->{rc}, 0, "$what: exit 0") or diag($r->{err});
    like($r->{out}, qr/^cordis: configuration file \Q$path\E test is successful$/m,
         "$what: says test is successful");
    run_is_clean($r, $what);
    return $r;
}

# $line: the line the message must name; $msg: regex for "option: problem".
sub bad {
    my ($path, $line, $msg, $what) = @_;
    my $r = run_cordis('-t', '-c', $path);
    is($r->{rc}, 1, "$what: exit 1");
    my $where = defined $line ? "\Q$path\E:$line" : "\Q$path\E";
    like($r->{err}, qr/^cordis: $where: $msg/m, "$what: stderr names file:line, option and problem")
        or diag("stderr: $r->{err}");
    unlike($r->{out}, qr/successful/, "$what: not reported successful");
    like($r->{err}, qr/configuration file \Q$path\E test failed/, "$what: says the test failed");
    run_is_clean($r, $what);
    return $r;
}

# ---- good files -----------------------------------------------------------

my $good = conf_file('good.conf', <<'EOF');
product_name = "conftest";
log = { level = "debug"; };
proxy = { listen = "127.0.0.1:19999"; workers = 2; max_clients = 100; drain_timeout = "500ms"; };
session = { recv_timeout = "30m"; send_timeout = "0"; max_output = "128mb"; };
backend = { ping_period = "5s"; primary_only = true; databases = 16; };
groups = (
  { id = 1; primary = "127.0.0.1:6379"; replicas = [ "127.0.0.1:6479" ]; },
  { id = 2; primary = "127.0.0.1:6380"; }
);
slots = (
  { range = "0-511"; group = 1; },
  { range = "512-1023"; group = 2; }
);
EOF
good($good, 'a complete file');
good(conf_file('empty.conf', "# nothing: every option has a default\n"), 'an empty file');
good(conf_file('workers0.conf', "proxy = { workers = 0; };\n"), 'workers = 0 (one per CPU)');
good(conf_file('workers64.conf', "proxy = { workers = 64; };\n"), 'workers = 64');
good(conf_file('admin-token.conf',
               "admin = { listen = \"0.0.0.0:11080\"; token = \"s3cret\"; };\n"),
     'non-loopback admin.listen with a token');

ok(-f "$srcdir/conf/cordis.conf", 'the shipped example exists');
good("$srcdir/conf/cordis.conf", 'the shipped conf/cordis.conf');

# ---- bad files --------------------------------------------------------------

bad(conf_file('syntax.conf', <<'EOF'), 3, 'syntax error', 'syntax error');
proxy = {
  workers = 2;
  listen = ;
};
EOF

bad(conf_file('unclosed.conf', "proxy = {\n  workers = 2;\n"), 3, 'syntax error',
    'unclosed group');

bad(conf_file('typo.conf', <<'EOF'), 3, qr/proxy\.lisen: unknown setting \(did you mean proxy\.listen\?\)/, 'typo in a section');
proxy = {
  workers = 2;
  lisen = "127.0.0.1:19000";
};
EOF

bad(conf_file('typo-top.conf', "product_name = \"x\";\nproxi = { workers = 2; };\n"), 2,
    qr/proxi: unknown setting \(did you mean proxy\?\)/, 'typo at the top level');

bad(conf_file('unknown.conf', "backend = {\n  colour = \"blue\";\n};\n"), 2,
    qr/backend\.colour: unknown setting/, 'unknown option');

bad(conf_file('type.conf', "proxy = {\n  workers = \"two\";\n};\n"), 2,
    qr/proxy\.workers: expected an integer/, 'string for an integer');

bad(conf_file('type-bool.conf', "backend = {\n\n  primary_only = \"yes\";\n};\n"), 3,
    qr/backend\.primary_only: expected true or false/, 'string for a boolean');

bad(conf_file('type-dur.conf', "session = {\n  recv_timeout = 30;\n};\n"), 2,
    qr/session\.recv_timeout: expected a duration.*not a bare number/, 'bare number for a duration');

bad(conf_file('workers65.conf', "proxy = {\n  workers = 65;\n};\n"), 2,
    qr/proxy\.workers: 65 is out of range \(0\.\.64\)/, 'workers = 65');

bad(conf_file('workers-neg.conf', "proxy = {\n  listen = \"127.0.0.1:19000\";\n  workers = -1;\n};\n"), 3,
    qr/proxy\.workers: -1 is out of range \(0\.\.64\)/, 'workers = -1');

bad(conf_file('duration.conf', "session = {\n  send_timeout = \"30s\";\n  recv_timeout = \"30x\";\n};\n"), 3,
    qr/session\.recv_timeout: "30x" is not a duration/, 'duration "30x"');

bad(conf_file('duration-range.conf', "backend = {\n  connect_timeout = \"1ms\";\n};\n"), 2,
    qr/backend\.connect_timeout: "1ms" is out of range/, 'duration below its minimum');

bad(conf_file('level.conf', "log = {\n  level = \"loud\";\n};\n"), 2,
    qr/log\.level: "loud" is not a log level/, 'unknown log level');

# The group id sits on its own line: the message must name that line.
bad(conf_file('slot-group.conf', <<'EOF'), 7, qr/slots\[1\]\.group: no group with id 7/, 'unknown group in slots');
groups = (
  { id = 1; primary = "127.0.0.1:6379"; }
);
slots = (
  { range = "0-511"; group = 1; },
  { range = "512-1023";
    group = 7; }
);
EOF

bad(conf_file('overlap.conf', <<'EOF'), 7, qr/slots\[1\]\.range: slot 500 is already assigned by slots\[0\] \(line 6\)/, 'overlapping slots');
groups = (
  { id = 1; primary = "127.0.0.1:6379"; },
  { id = 2; primary = "127.0.0.1:6380"; }
);
slots = (
  { range = "0-511"; group = 1; },
  { range = "500-1023"; group = 2; }
);
EOF

bad(conf_file('slot-range.conf', <<'EOF'), 5, qr/slots\[0\]\.range: "0-1024" is out of bounds/, 'slot past 1023');
groups = (
  { id = 1; primary = "127.0.0.1:6379"; }
);
slots = (
  { range = "0-1024"; group = 1; }
);
EOF

bad(conf_file('dup-group.conf', <<'EOF'), 4, qr/groups\[2\]\.id: duplicate group id 1 \(also groups\[0\]\)/, 'duplicate group id');
groups = (
  { id = 1; primary = "127.0.0.1:6379"; },
  { id = 2; primary = "127.0.0.1:6380"; },
  { id = 1; primary = "127.0.0.1:6381"; }
);
EOF

bad(conf_file('addr-port.conf', "groups = (\n  { id = 1; primary = \"127.0.0.1:99999\"; }\n);\n"), 2,
    qr/groups\[0\]\.primary: "127\.0\.0\.1:99999" is not an address/, 'port out of range');

bad(conf_file('addr-host.conf', "proxy = {\n  listen = \"redis.example.com:19000\";\n};\n"), 2,
    qr/proxy\.listen: "redis\.example\.com:19000" is not an address/, 'host name in an address');

bad(conf_file('addr-noport.conf', "\nproxy = { listen = \"127.0.0.1\"; };\n"), 2,
    qr/proxy\.listen: "127\.0\.0\.1" is not an address/, 'address without a port');

bad(conf_file('addr-dup.conf', <<'EOF'), 3, qr/groups\[1\]\.primary: .*already used by groups\[0\]\.primary/, 'one server in two groups');
groups = (
  { id = 1; primary = "127.0.0.1:6379"; },
  { id = 2; primary = "127.0.0.1:6379"; }
);
EOF

bad(conf_file('admin-open.conf', "admin = {\n  token = \"\";\n  listen = \"0.0.0.0:11080\";\n};\n"), 3,
    qr/admin\.listen: 0\.0\.0\.0:11080 is not a loopback address, so admin\.token must be set/,
    'non-loopback admin.listen without a token');

my $missing = "$dir/no-such-dir/cordis.conf";
bad($missing, undef, qr/cannot open: No such file or directory/, 'missing file');

# ---- -t binds nothing and writes nothing ------------------------------------

{
    my $conf = write_conf(name => 'taken.conf',
                          groups => [[1, '127.0.0.1:6379']], slots => [['0-1023', 1]]);
    my @held = map {
        IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $_, Proto => 'tcp',
                              ReuseAddr => 0, Listen => 5) or die "listen $_: $!";
    } $conf->{port}, $conf->{admin_port};
    unlink $conf->{pid_file}, $conf->{log};
    my $r = good($conf->{path}, '-t while the proxy and admin ports are taken');
    ok(!-e $conf->{pid_file}, '-t writes no pid file');
    ok(!-e $conf->{log}, '-t opens no log file');
    # Both listeners are still ours alone: nobody else accepted on them.
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$conf->{port}", Timeout => 2);
    ok($c && $held[0]->accept, 'the proxy port is still held by the test');
    close $_ for grep { defined } $c, @held;
}

# ---- other flags ------------------------------------------------------------

{
    my $r = run_cordis('-v');
    is($r->{rc}, 0, '-v exits 0');
    like($r->{out}, qr/^cordis \d+\.\d+/, '-v prints the version');
    run_is_clean($r, '-v');

    $r = run_cordis('-h');
    is($r->{rc}, 0, '-h exits 0');
    like($r->{out}, qr/Usage: cordis/, '-h prints the usage');
    like($r->{out}, qr/-t\b.*check/, '-h documents -t');
    run_is_clean($r, '-h');

    $r = run_cordis('-Z');
    is($r->{rc}, 1, 'an unknown flag exits 1');
    like($r->{err}, qr/Usage: cordis/, 'an unknown flag prints the usage on stderr');
    is($r->{out}, '', 'an unknown flag prints nothing on stdout');
    run_is_clean($r, 'an unknown flag');

    $r = run_cordis('-t', '-c', $good, 'extra');
    is($r->{rc}, 1, 'a stray argument exits 1');
    run_is_clean($r, 'a stray argument');

    $r = run_cordis('-s', 'explode', '-c', $good);
    is($r->{rc}, 1, '-s with an unknown signal name exits 1');
    like($r->{err}, qr/unknown signal "explode"/, '-s names the unknown signal');
    run_is_clean($r, '-s explode');
}

done_testing();
