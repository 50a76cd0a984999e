#!/usr/bin/perl
# Packaging and installation, end to end:
#
#   - the manual pages render without a groff warning and document every
#     option of the schema table in src/conf.c (type, default, range,
#     reload), every command-line flag and every "cordis -s" word;
#   - "systemd-analyze verify" accepts conf/cordis.service (a copy whose
#     ExecStart points at the built binary, since verify wants it to exist);
#   - tools/package-deb builds the .deb and lintian reports no error; the
#     .deb holds the daemon, the config (a conffile), the unit, the
#     logrotate and tmpfiles.d files and the man pages, and depends on the
#     right libraries; the extracted binary checks the shipped config;
#   - the .deb is installed, used, reinstalled, removed and purged with the
#     real dpkg and its real maintainer scripts in a scratch root, which is
#     an overlay of this machine's own root file system in a private mount
#     namespace (unshare -m, mount -t overlay, chroot): the postinst's
#     adduser runs against a copy-on-write /etc/passwd, and nothing reaches
#     the real system. No debootstrap (it would download a whole system)
#     and no fake passwd files: the scratch root is a full Debian system
#     whose writes all land in a temporary directory. Needs root (or
#     CAP_SYS_ADMIN + CAP_SYS_CHROOT), which CI and tools/check have. There
#     cordis runs as user cordis with the shipped paths (/run/cordis,
#     /var/log/cordis), logrotate rotates its log and makes it reopen it;
#   - in a second scratch root, systemd itself runs as PID 1 of a private
#     PID namespace (unshare --pid) and starts the installed unit as
#     shipped -- Type=notify, user cordis, the whole sandbox -- and
#     systemctl (through nsenter) reloads, stops, starts and kills it;
#   - where this machine cannot host a scratch root (a chroot whose / is
#     not a mount point, a container without CAP_SYS_ADMIN or overlayfs, no
#     root) or cannot boot systemd in one (a read-only cgroup file system,
#     ...), a probe that really tries it (probe_scratch_root, probe_systemd;
#     no cordis involved) says so once, with the reason, and those checks
#     are skipped, not failed: they would test the machine, not cordis. A
#     probe that fails for any other reason is a failure;
#   - "make install DESTDIR=..." and "make uninstall" in the build
#     directory install and remove every file, rewrite the unit's paths for
#     the configured prefix, and never overwrite an edited cordis.conf.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Find;
use File::Path qw(make_path);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Test::More;
use CordisTest;

# A die says why in the TAP log, whatever happens to stderr.
$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

my $src = abs_path($ENV{CORDIS_SRCDIR} || "$FindBin::Bin/..");
my $bin = abs_path(cordis_bin());
my $dir = abs_path(tmpdir());

# Runs a command (a list, or one string for sh -c) with stdin from
# /dev/null; returns { rc, out } with stdout and stderr together.
my $nrun = 0;
sub run {
    my ($timeout, @cmd) = @_;
    my $file = "$dir/cmd-" . ++$nrun . '.out';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $file;
        open STDERR, '>&', \*STDOUT;
        # A make or dpkg-buildpackage started from here is not part of the
        # make that runs the tests.
        delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES)};
        exec @cmd == 1 ? ('/bin/sh', '-c', $cmd[0]) : @cmd or POSIX::_exit(127);
    }
    my $end = time + $timeout;
    my $got = 0;
    while (time < $end) {
        $got = waitpid($pid, WNOHANG);
        last if $got == $pid;
        sleep 0.05;
    }
    if ($got != $pid) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        return { rc => 124, out => read_file($file) . "\n(timed out after ${timeout}s)" };
    }
    my $rc = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
    return { rc => $rc, out => read_file($file) };
}

sub write_file {
    my ($path, $text) = @_;
    make_path(dirname($path));
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
}

sub tail_of {
    my ($text, $n) = @_;
    my @lines = split /\n/, $text // '';
    return join("\n", @lines > $n ? @lines[-$n .. -1] : @lines);
}

for my $f (qw(conf/cordis.service conf/cordis.logrotate conf/cordis.tmpfiles
              conf/cordis.conf doc/cordis.8 doc/cordis.conf.5 tools/package-deb
              tools/debian/control tools/debian/rules tools/debian/changelog)) {
    ok(-f "$src/$f", "$f is in the tree") or BAIL_OUT("$src/$f is missing");
}

# ---- manual pages ----------------------------------------------------------

for my $page (qw(doc/cordis.8 doc/cordis.conf.5)) {
    # What lintian's groff check runs.
    my $r = run(60, "LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "
                    . "'$src/$page' >/dev/null");
    is($r->{rc}, 0, "$page: man renders it");
    is($r->{out}, '', "$page: no groff warning") or diag($r->{out});
}

my $man5 = read_file("$src/doc/cordis.conf.5");
my $man8 = read_file("$src/doc/cordis.8");

# The schema table: { "path", CONF_T_TYPE, CONF_OFF(field), "default", min, max, FLAG }.
my $conf_c = read_file("$src/src/conf.c");
my ($table) = $conf_c =~ /conf_options\[\]\s*=\s*\{(.*?)\n\};/s;
my @options;
while (($table // '') =~ /\{\s*"([a-z_.]+)",\s*CONF_T_(\w+),\s*CONF_OFF\([^)]*\),\s*
                          "([^"]*)",\s*([^,]+?),\s*([^,]+?),\s*(CONF_LIVE|CONF_RESTART)\s*\}/gsx) {
    push @options, { path => $1, type => $2, def => $3, min => $4, max => $5, flag => $6 };
}
cmp_ok(scalar @options, '>=', 25, 'read the option table of src/conf.c');

# Evaluates a range bound such as "16 * CONF_GB" or "CORDIS_MAX_WORKERS".
my %const = (CONF_SEC => 1000, CONF_MIN => 60_000, CONF_HOUR => 3_600_000,
             CONF_DAY => 86_400_000, CONF_KB => 1024, CONF_MB => 1024**2,
             CONF_GB => 1024**3);
for my $h (glob "$src/include/*.h") {
    my $text = read_file($h);
    $const{$1} = $2 while $text =~ /^#define\s+(CORDIS_\w+)\s+(\d+)\s*$/mg;
}
sub bound {
    my ($expr) = @_;
    (my $e = $expr) =~ s/\b([A-Z_]+)\b/exists $const{$1} ? $const{$1} : "?"/ge;
    $e =~ s/LL\b//g;
    return undef unless $e =~ /^[\d\s*()+-]+$/;   # plain arithmetic only
    return eval $e;
}
# As conf_format in src/conf.c: 5000 ms -> "5s", 1048576 bytes -> "1mb".
sub shown {
    my ($type, $v) = @_;
    my @units = $type eq 'DURATION' ? (['d', 86_400_000], ['h', 3_600_000], ['m', 60_000],
                                       ['s', 1000], ['ms', 1])
              : $type eq 'SIZE'     ? (['gb', 1024**3], ['mb', 1024**2], ['kb', 1024], ['b', 1])
              : ();
    return $v if $v == 0 || !@units;
    for my $u (@units) {
        return ($v / $u->[1]) . $u->[0] if $v % $u->[1] == 0;
    }
    return $v;
}

for my $o (@options) {
    my $p = $o->{path};
    # The entry: from ".TP\n.B path\n" to the next ".TP" or ".SH".
    my ($entry) = $man5 =~ /^\.TP\n\.B \Q$p\E\n(.*?)(?=^\.(?:TP|SH)\b)/ms;
    ok(defined $entry, "cordis.conf.5 documents $p") or next;
    my $reload = $o->{flag} eq 'CONF_LIVE' ? 'reload: in place' : 'reload: new workers';
    like($entry, qr/\Q$reload\E/, "cordis.conf.5: $p says \"$reload\"");
    if ($o->{type} =~ /^(INT|BOOL)$/) {
        like($entry, qr/^\.BR? \Q$o->{def}\E( ;)?$/m, "cordis.conf.5: $p defaults to $o->{def}");
    } else {
        like($entry, qr/\Q\(dq$o->{def}\(dq\E/, "cordis.conf.5: $p defaults to \"$o->{def}\"");
    }
    if ($o->{type} =~ /^(INT|DURATION|SIZE)$/) {
        my ($lo, $hi) = (bound($o->{min}), bound($o->{max}));
        ok(defined $lo && defined $hi, "src/conf.c: the range of $p ($o->{min}..$o->{max}) evaluates")
            or next;
        my $range = shown($o->{type}, $lo) . '..' . shown($o->{type}, $hi);
        like($entry, qr/\b\Q$range\E\b/, "cordis.conf.5: $p range is $range");
    }
    # And in the table at a glance, under its section.
    my ($leaf) = $p =~ /([^.]+)$/;
    my $live = $o->{flag} eq 'CONF_LIVE' ? 'yes' : 'no';
    like($man5, qr/^\\0\\0\Q$leaf\E;[^;\n]*;[^;\n]*;[^;\n]*;\Q$live\E$/m,
         "cordis.conf.5: $p is in the table (in place: $live)");
}
like($man5, qr/^\.SH GROUPS$/m, 'cordis.conf.5 documents groups');
like($man5, qr/^\.SH SLOTS$/m, 'cordis.conf.5 documents slots');
like($man5, qr/^\.SH ERRORS$/m, 'cordis.conf.5 documents the error format');

my ($getopt) = read_file("$src/src/main.c") =~ /getopt\(argc, argv, "([^"]+)"\)/;
for my $flag (grep { /\w/ } split //, $getopt // '') {
    like($man8, qr/^\.(?:B|BI|OP) \\-\Q$flag\E\b/m, "cordis.8 documents -$flag");
}
my @words = read_file("$src/src/signals.c") =~ /\{\s*SIG\w+,\s*"\w+",\s*"(\w+)"/g;
cmp_ok(scalar @words, '>=', 4, 'read the cordis -s words from src/signals.c');
like($man8, qr/^\.B \Q$_\E$/m, "cordis.8 documents cordis -s $_") for @words;
like($man8, qr/^\.SH "EXIT STATUS"$/m, 'cordis.8 documents the exit status');

# ---- the systemd unit ----------------------------------------------------

my $unit = read_file("$src/conf/cordis.service");
for my $line ('Type=notify', 'ExecStartPre=/usr/sbin/cordis -t -c /etc/cordis/cordis.conf',
              'ExecStart=/usr/sbin/cordis -c /etc/cordis/cordis.conf',
              'ExecReload=/bin/kill -HUP $MAINPID', 'KillSignal=SIGQUIT', 'User=cordis',
              'Group=cordis', 'RuntimeDirectory=cordis', 'LogsDirectory=cordis',
              'LimitNOFILE=65536', 'NoNewPrivileges=yes', 'ProtectSystem=strict',
              'CapabilityBoundingSet=', 'Restart=on-failure') {
    like($unit, qr/^\Q$line\E$/m, "cordis.service: $line");
}
my ($stop) = $unit =~ /^TimeoutStopSec=(\d+)s$/m;
cmp_ok($stop // 0, '>', 35, 'cordis.service: TimeoutStopSec covers drain_timeout 30s + 5s');

{
    my $conf = write_conf(groups => [[1, '127.0.0.1:6379']], slots => [['0-1023', 1]]);
    (my $copy = $unit) =~ s{/usr/sbin/cordis}{$bin}g;
    $copy =~ s{/etc/cordis/cordis\.conf}{$conf->{path}}g;
    write_file("$dir/unit/cordis.service", $copy);
    my $r = run(120, 'systemd-analyze', 'verify', '--man=no', "$dir/unit/cordis.service");
    is($r->{rc}, 0, 'systemd-analyze verify: exit 0') or diag($r->{out});
    my @said = grep { /cordis/ } split /\n/, $r->{out};
    is(scalar @said, 0, 'systemd-analyze verify: nothing to say about cordis.service')
        or diag(join("\n", @said));
}

# ---- the .deb ---------------------------------------------------------------

my $r = run(1500, "$src/tools/package-deb", "$dir/deb");
is($r->{rc}, 0, 'tools/package-deb: exit 0') or diag(tail_of($r->{out}, 80));
my @lintian = grep { /^lintian: [EWIPX]: / } split /\n/, $r->{out};
note("lintian says:\n" . join("\n", @lintian)) if @lintian;
my @errors = grep { /^lintian: E: / } @lintian;
is(scalar @errors, 0, 'lintian: no error') or diag(join("\n", @errors));
like($r->{out}, qr/^package-deb: lintian: 0 errors$/m, 'package-deb ran lintian');

my @debs = glob "$dir/deb/cordis_*.deb";
is(scalar @debs, 1, 'one .deb in OUTDIR') or BAIL_OUT("no .deb:\n" . tail_of($r->{out}, 40));
my $deb = $debs[0];
my ($version) = read_file("$src/tools/debian/changelog") =~ /^cordis \(([^)]+)\)/;
my ($upstream) = $version =~ /^(.*)-[^-]+$/;
like($deb, qr{/cordis_\Q$version\E_[a-z0-9]+\.deb$}, "named cordis_${version}_<arch>.deb");

my $list = run(60, 'dpkg', '-c', $deb)->{out};
my %in_deb = map { /\s\.(\/\S+)/ ? ($1 => 1) : () } split /\n/, $list;
my ($unit_path) = grep { m{^(/usr)?/lib/systemd/system/cordis\.service$} } keys %in_deb;
ok($unit_path, 'the .deb holds the systemd unit') or diag($list);
for my $path ('/usr/sbin/cordis', '/etc/cordis/cordis.conf', '/etc/logrotate.d/cordis',
              '/usr/lib/tmpfiles.d/cordis.conf', '/usr/share/man/man8/cordis.8.gz',
              '/usr/share/man/man5/cordis.conf.5.gz', '/usr/share/doc/cordis/copyright') {
    ok($in_deb{$path}, "the .deb holds $path");
}

my $depends = run(60, 'dpkg-deb', '-f', $deb, 'Depends')->{out};
for my $pkg (qw(libev4 libconfig9 libmicrohttpd12 libjansson4 zlib1g libsystemd0 adduser)) {
    like($depends, qr/(^|[ ,])\Q$pkg\E\b/, "the .deb depends on $pkg");
}

my $ctrl = "$dir/control";
is(run(60, 'dpkg-deb', '-e', $deb, $ctrl)->{rc}, 0, 'dpkg-deb -e');
my $conffiles = read_file("$ctrl/conffiles");
like($conffiles, qr{^/etc/cordis/cordis\.conf$}m, 'cordis.conf is a conffile');
like($conffiles, qr{^/etc/logrotate\.d/cordis$}m, 'the logrotate file is a conffile');
my $postinst = read_file("$ctrl/postinst");
like($postinst, qr/adduser --system/, 'postinst creates the system user');
like($postinst, qr/deb-systemd-helper/, 'postinst enables the unit (dh_installsystemd)');
like($postinst, qr/systemd-tmpfiles/, 'postinst applies the tmpfiles.d entry');

my $root = "$dir/extracted";
is(run(60, 'dpkg-deb', '-x', $deb, $root)->{rc}, 0, 'dpkg-deb -x');
$r = run(30, "$root/usr/sbin/cordis", '-t', '-c', "$root/etc/cordis/cordis.conf");
is($r->{rc}, 0, 'the packaged cordis accepts the packaged cordis.conf') or diag($r->{out});
like($r->{out}, qr/test is successful/, 'the packaged cordis says the test is successful');
like(run(30, "$root/usr/sbin/cordis", '-v')->{out}, qr/^cordis \Q$upstream\E$/m,
     "the packaged cordis is version $upstream");
like(run(30, 'readelf', '-d', "$root/usr/sbin/cordis")->{out}, qr/\[libsystemd\.so\.0\]/,
     'the packaged cordis is linked with libsystemd (sd_notify)');

# ---- install, use, remove and purge it in a scratch root ------------------

# Shell lines that build the scratch root in $ovl/root: a tmpfs holds the
# overlay's upper and work directories, the lower one is this machine's /,
# so the scratch root is a complete Debian system with its own copy-on-write
# /etc, /var and dpkg database. The .deb is put in as /cordis-test/cordis.deb
# (unless $no_deb: the probes have no cordis in it). To be run in a private
# mount namespace (unshare -m). A step that fails ends it with exit 90 and
# a line "scratch root: <step>: <its error>", which the probes read.
sub scratch_root_sh {
    my ($ovl, $no_deb) = @_;
    make_path($ovl);
    my $cp = $no_deb ? '' : qq{cp '$deb' "\$ovl/upper/cordis-test/cordis.deb"};
    return <<"EOF";
set -u
ovl='$ovl'
need() { what=\$1; shift; err=\$("\$@" 2>&1) || { echo "scratch root: \$what: \$err" | tr '\\n' ' '; echo; exit 90; }; }
# Private mounts only: nothing here is seen outside this namespace.
need 'private mounts (mount --make-rprivate /)' mount --make-rprivate /
need 'a tmpfs for the overlay' mount -t tmpfs tmpfs "\$ovl"
mkdir -p "\$ovl/upper/cordis-test" "\$ovl/work" "\$ovl/root"
$cp
need 'an overlay of / (mount -t overlay, lowerdir=/)' \\
    mount -t overlay overlay -o "lowerdir=/,upperdir=\$ovl/upper,workdir=\$ovl/work" "\$ovl/root"
need '/dev in it (mount --rbind /dev)' mount --rbind /dev "\$ovl/root/dev"
need '/sys in it (mount --rbind /sys)' mount --rbind /sys "\$ovl/root/sys"
need '/proc in it (mount -t proc)' mount -t proc proc "\$ovl/root/proc"
need 'a tmpfs on its /run' mount -t tmpfs tmpfs "\$ovl/root/run"     # a fresh /run: no systemd running
need 'a tmpfs on its /tmp' mount -t tmpfs tmpfs "\$ovl/root/tmp"
EOF
}

# The output of a probe as one line, for a skip reason.
sub one_line {
    my ($text) = @_;
    $text = join '; ', grep { /\S/ } split /\n/, $text // '';
    $text =~ s/\s+/ /g;
    return length $text > 300 ? substr($text, 0, 297) . '...' : $text;
}

# Can this machine host a scratch root? Tries exactly what the checks
# below do, without cordis: unshare -m (a private mount namespace; in a
# chroot whose / is not a mount point it fails with "cannot change root
# filesystem propagation", without CAP_SYS_ADMIN with "Operation not
# permitted"), the mounts of scratch_root_sh (a tmpfs, an overlay whose
# lower directory is /, /dev, /sys, /proc, /run and /tmp in it), chroot
# into it (CAP_SYS_CHROOT) and dpkg-query there, which must find dpkg
# installed: the overlay of / is a complete Debian system only if / is one
# file system. Returns {} if it can, { why => the step that failed and its
# error } if the machine cannot, { unexpected => output } if the probe
# failed some other way (a bug in this test: not a reason to skip).
sub probe_scratch_root {
    my $ovl = "$dir/probe-scratch";
    write_file("$dir/probe-scratch.sh", scratch_root_sh($ovl, 'no deb') . <<'EOF');
exec chroot "$ovl/root" dpkg-query -W -f 'probe: dpkg ${Status}\n' dpkg
EOF
    my $r = run(120, 'unshare', '-m', '/bin/sh', "$dir/probe-scratch.sh");
    my $out = $r->{out};
    return {} if $r->{rc} == 0 && $out =~ /^probe: dpkg install ok installed$/m;
    return { why => 'cannot run unshare (util-linux)' } if $r->{rc} == 127 && $out eq '';
    return { why => 'unshare -m: ' . one_line($1) } if $out =~ /^unshare: (.*)/ms;
    return { why => one_line($1) } if $r->{rc} == 90 && $out =~ /^scratch root: (.*)/ms;
    return { why => 'chroot into it: ' . one_line($1) } if $out =~ /^chroot: (.*)/ms;
    return { why => 'the overlay of / is not a complete Debian system (is / one file system?): '
                    . 'dpkg-query -W dpkg there says: ' . one_line($out) } if $out =~ /^dpkg-query: /m;
    return { unexpected => "exit $r->{rc}: $out" };
}

# Runs "unshare --pid --fork --mount /bin/sh $script", a script that ends by
# exec'ing systemd in a scratch root, with its output in $log, and waits up
# to $timeout seconds for systemd to be PID 1 of the new PID namespace.
# Returns { unshare => its pid, init => the pid of that systemd (here) or
# undef, status => unshare's wait status if it ended (then init is undef) }.
sub boot_systemd {
    my ($script, $log, $timeout) = @_;
    my $unshare = fork // die "fork: $!";
    if ($unshare == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log;
        open STDERR, '>&', \*STDOUT;
        exec 'unshare', '--pid', '--fork', '--mount', '/bin/sh', $script or POSIX::_exit(127);
    }
    my %b = (unshare => $unshare);
    # PID 1 of the namespace: the child unshare forked, once it is systemd.
    my $init = wait_for(sub {
        if (waitpid($unshare, WNOHANG) == $unshare) {
            $b{status} = $?;        # it gave up (no root? no dpkg -i?)
            return -1;
        }
        my ($child) = split ' ', read_file("/proc/$unshare/task/$unshare/children");
        return $child && read_file("/proc/$child/comm") =~ /^systemd$/ ? $child : 0;
    }, $timeout);
    $b{init} = $init if ($init // -1) != -1;
    return \%b;
}

# True once unshare (and so the namespace's systemd) has ended: reaps it.
sub systemd_ended {
    my ($b) = @_;
    return 1 if defined $b->{status};
    return 0 unless waitpid($b->{unshare}, WNOHANG) == $b->{unshare};
    $b->{status} = $?;
    delete $b->{init};
    return 1;
}

# Takes the namespace down: PID 1 gone means every process in it gone.
# PID 1 is systemd, or what is still to become it (the setup script).
# True if unshare ended within 30s of SIGKILL to that PID 1.
sub stop_systemd {
    my ($b) = @_;
    return 1 if systemd_ended($b);
    my ($pid1) = $b->{init} // split ' ', read_file("/proc/$b->{unshare}/task/$b->{unshare}/children");
    kill 'KILL', $pid1 if $pid1;
    return 1 if wait_for(sub { systemd_ended($b) }, 30);
    kill 'KILL', $b->{unshare};
    waitpid($b->{unshare}, 0);
    return 0;
}

# A wait status as words.
sub exit_words {
    my ($status) = @_;
    return $status & 127 ? 'killed by signal ' . ($status & 127) : 'exit status ' . ($status >> 8);
}

# Can systemd run as PID 1 of a PID namespace here, as the systemd checks
# need? Only asked where a scratch root works (probe_scratch_root). Boots
# systemd as they do (unshare --pid --fork --mount, chroot into a scratch
# root, container=...) with a target that wants a test service, not cordis
# -- Type=exec, user nobody, sandboxed with a mount namespace and a seccomp
# filter (ProtectSystem=strict, PrivateTmp, PrivateDevices,
# SystemCallFilter=@system-service, ...) -- and waits up to 60s for
# systemctl (through nsenter) to say it is active. That fails where systemd
# cannot create its cgroup (a read-only cgroup file system, as in a
# container without cgroup delegation: systemd exits at once), where it
# cannot set up a service's sandbox (status 226/NAMESPACE, ...), where
# unshare --pid is not allowed. Returns as probe_scratch_root does; a test
# service that systemd cannot load is a bug of this test (unexpected).
sub probe_systemd {
    my $ovl = "$dir/probe-systemd";
    my $root = "$ovl/root";
    my $log = "$dir/probe-systemd.log";
    write_file("$dir/probe-systemd.sh", scratch_root_sh($ovl, 'no deb') . <<'EOF');
chroot "$ovl/root" /bin/sh -s <<'INNER' || exit 93
set -e
cat >/etc/systemd/system/cordis-probe.service <<'UNIT'
[Unit]
Description=cordis test: can systemd run a sandboxed service here?
[Service]
Type=exec
ExecStart=/bin/sleep infinity
User=nobody
NoNewPrivileges=yes
ProtectSystem=strict
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictNamespaces=yes
SystemCallFilter=@system-service
RuntimeDirectory=cordis-probe
UNIT
printf '[Unit]\nDescription=cordis test probe\nWants=cordis-probe.service\n' >/etc/systemd/system/cordis-probe.target
set -- $(findmnt -n -o FSTYPE,OPTIONS --target /sys/fs/cgroup)
echo "probe: cgroup: ${1:-?}${2:+, mounted ${2%%,*}}"
INNER
exec chroot "$ovl/root" env container=cordis-test /lib/systemd/systemd --system --unit=cordis-probe.target
EOF
    my $b = boot_systemd("$dir/probe-systemd.sh", $log, 60);
    my ($cgroup) = read_file($log) =~ /^probe: cgroup: (.*)$/m;
    $cgroup = $cgroup ? " (its /sys/fs/cgroup: $cgroup)" : '';
    my $sc = sub { run(30, 'nsenter', '-t', $b->{init}, '-m', '-p', 'chroot', $root, @_) };
    my $res;
    if ($b->{init}) {
        my $said = '';
        my $state = wait_for(sub {
            return 'ended' if systemd_ended($b);
            $said = $sc->('systemctl', 'is-active', 'cordis-probe.service')->{out};
            return $said =~ /^(active|failed)$/m ? $1 : 0;
        }, 60) // 'timeout';
        my %p;
        if ($state ne 'ended') {
            %p = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } split /\n/,
                 $sc->('systemctl', 'show', 'cordis-probe.service', '-pLoadState', '-pActiveState',
                       '-pResult', '-pExecMainStatus')->{out};
        }
        my $sd = 'systemd, PID 1 of a new PID namespace,';
        $res = $state eq 'active' ? {}
             : $state eq 'ended' ? { why => "$sd ended (" . exit_words($b->{status})
                                            . ") before it started a test service$cgroup" }
             : ($p{LoadState} // 'loaded') ne 'loaded'
                 ? { unexpected => "systemd cannot load the test service: LoadState=$p{LoadState}" }
             : $state eq 'failed' ? { why => "$sd could not start a sandboxed test service: "
                                             . 'Result=' . ($p{Result} // '?') . ', status '
                                             . ($p{ExecMainStatus} // '?') }
             : { why => "$sd did not start a test service in 60s (systemctl there says: "
                        . one_line($said) . ")$cgroup" };
    }
    my $gone = stop_systemd($b);
    return $res if $res;
    # systemd never was PID 1 of the namespace.
    my $out = read_file($log);
    return { why => 'cannot run unshare (util-linux)' } if ($b->{status} // 0) >> 8 == 127 && $out eq '';
    return { why => 'unshare --pid --fork --mount: ' . one_line($1) } if $out =~ /^unshare: (.*)/ms;
    return { why => one_line($1) } if ($b->{status} // 0) >> 8 == 90 && $out =~ /^scratch root: (.*)/ms;
    return { why => 'chroot into the scratch root: ' . one_line($1) } if $out =~ /^chroot: (.*)/ms;
    return { why => 'systemd did not start as PID 1 of a new PID namespace in 60s' } unless $gone;
    return { why => 'systemd, PID 1 of a new PID namespace, ended (' . exit_words($b->{status})
                    . ") at once$cgroup" } if ($b->{status} // 0) >> 8 != 93 && $out =~ /^probe: /m;
    return { unexpected => exit_words($b->{status} // 0) . ": $out" };
}

# How many checks each probed section runs: where it cannot run, as many
# are skipped. section_done fails if a section that passed ran another
# number (a check was added or removed and the count here was not).
my %SECTION_CHECKS = ('scratch root' => 32, systemd => 31);
sub section_done {
    my ($name, $first) = @_;
    my $tb = Test::More->builder;
    my @ran = ($tb->summary)[$first .. $tb->current_test - 1];
    return if grep { !$_ } @ran or @ran == $SECTION_CHECKS{$name};
    fail("t/40 itself: the $name section ran " . @ran . " checks but skips $SECTION_CHECKS{$name} "
         . 'where it cannot run: update %SECTION_CHECKS');
}

# A probe that failed but not for want of a capability is a failure (then
# the section runs anyway, and says more).
sub probe_failed {
    my ($probe, $what) = @_;
    return unless $probe->{unexpected};
    fail("the $what probe failed, not for want of a capability");
    diag($probe->{unexpected});
}

my $scratch = probe_scratch_root();
probe_failed($scratch, 'scratch root');
diag("This machine cannot host the scratch root that the .deb is installed in below (unshare -m, "
     . "an overlay of / on a tmpfs, chroot): $scratch->{why}. The $SECTION_CHECKS{'scratch root'} "
     . "checks in it and the $SECTION_CHECKS{systemd} of cordis.service under systemd (which need "
     . "one too) are skipped, not failed: they would test this machine, not cordis.") if $scratch->{why};

SKIP: {
    skip("no scratch root on this machine: $scratch->{why}", $SECTION_CHECKS{'scratch root'})
        if $scratch->{why};
    my $first = Test::More->builder->current_test;
    my $port = free_port();
    my $admin = free_port();
    my $ovl = "$dir/overlay";
    write_file("$dir/scratch.sh", scratch_root_sh($ovl) . <<"EOF");
exec chroot "\$ovl/root" /bin/sh -s <<'INNER'
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive
step() { name=\$1; shift; out=\$("\$@" 2>&1); rc=\$?; echo "step \$name \$rc"; printf '%s\\n' "\$out" | sed 's/^/  | /'; }
fact() { echo "fact \$1=\$2"; }

step install dpkg -i /cordis-test/cordis.deb
fact status "\$(dpkg-query -W -f '\${Status}' cordis)"
fact passwd "\$(getent passwd cordis)"
fact group "\$(getent group cordis)"
fact logdir "\$(stat -c '%U:%G:%a' /var/log/cordis)"
fact rundir "\$(stat -c '%U:%G:%a' /run/cordis)"
fact confmode "\$(stat -c '%U:%G:%a' /etc/cordis/cordis.conf)"
fact enabled "\$(readlink /etc/systemd/system/multi-user.target.wants/cordis.service)"
step verify systemd-analyze verify --man=no /lib/systemd/system/cordis.service
step test-as-cordis runuser -u cordis -- /usr/sbin/cordis -t -c /etc/cordis/cordis.conf

# Run it as the service would: user cordis, the shipped pid and log paths.
cat >/etc/cordis/scratch.conf <<CONF
pid_file = "/run/cordis/cordis.pid";
log = { file = "/var/log/cordis/cordis.log"; };
proxy = { listen = "127.0.0.1:$port"; workers = 2; };
admin = { listen = "127.0.0.1:$admin"; };
CONF
# Not through step: its \$( ) would wait for the workers, which keep the
# stderr they inherited open.
timeout 60 runuser -u cordis -- /usr/sbin/cordis -d -c /etc/cordis/scratch.conf >/tmp/start.out 2>&1
echo "step start \$?"; sed 's/^/  | /' /tmp/start.out
pid=\$(cat /run/cordis/cordis.pid 2>/dev/null)
fact pid "\$pid"
fact ping "\$(redis-cli -p $port ping 2>&1)"
fact master_user "\$(ps -o user= -p "\$pid")"
step logrotate logrotate -f /etc/logrotate.d/cordis
for i in 1 2 3 4 5 6 7 8 9 10; do
    grep -q 'log file reopened' /var/log/cordis/cordis.log 2>/dev/null && break
    sleep 0.5
done
fact rotated "\$(ls /var/log/cordis | tr "\\n" " ")"
fact newlog "\$(stat -c '%U:%G:%a' /var/log/cordis/cordis.log)"
fact reopened "\$(grep -c 'log file reopened' /var/log/cordis/cordis.log)"
step quit /usr/sbin/cordis -s quit -c /etc/cordis/scratch.conf
for i in \$(seq 1 100); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
fact stopped "\$(kill -0 "\$pid" 2>/dev/null && echo no || echo yes)"

# An edited conffile survives a reinstall and a remove; purge takes it all.
echo '# edited by the admin' >>/etc/cordis/cordis.conf
step reinstall dpkg -i /cordis-test/cordis.deb
fact kept_reinstall "\$(grep -c 'edited by the admin' /etc/cordis/cordis.conf)"
step remove dpkg -r cordis
fact kept_remove "\$(grep -c 'edited by the admin' /etc/cordis/cordis.conf)"
fact binary_after_remove "\$(test -e /usr/sbin/cordis && echo yes || echo no)"
rm -f /etc/cordis/scratch.conf
step purge dpkg --purge cordis
fact etc_after_purge "\$(test -e /etc/cordis/cordis.conf && echo yes || echo no)"
fact log_after_purge "\$(test -e /var/log/cordis && echo yes || echo no)"
fact user_after_purge "\$(getent passwd cordis || echo none)"
fact group_after_purge "\$(getent group cordis || echo none)"
fact status_after_purge "\$(dpkg-query -W -f '\${Status}' cordis 2>&1)"
INNER
EOF
    $r = run(600, 'unshare', '-m', '/bin/sh', "$dir/scratch.sh");
    my (%step, %fact);
    for (split /\n/, $r->{out}) {
        $step{$1} = $2 if /^step (\S+) (\d+)$/;
        $fact{$1} = $2 if /^fact (\w+)=(.*)$/;
    }
    # Whatever happened, no cordis of ours outlives the test.
    kill 'KILL', $fact{pid} if $fact{pid} && $fact{pid} =~ /^\d+$/ && kill 0, $fact{pid};
    is($r->{rc}, 0, 'scratch root: set up (unshare -m, overlay, chroot; needs root)')
        or diag(tail_of($r->{out}, 60));
    note($r->{out});

    is($step{install}, 0, 'dpkg -i in the scratch root');
    is($fact{status}, 'install ok installed', 'dpkg says installed');
    like($fact{passwd} // '', qr{^cordis:x:(\d+):\d+:[^:]*:/nonexistent:/usr/sbin/nologin$},
         'postinst created the system user cordis (home /nonexistent, nologin)');
    my ($uid) = ($fact{passwd} // '') =~ /^cordis:x:(\d+):/;
    ok(defined $uid && $uid < 1000, 'cordis is a system user (uid < 1000)');
    like($fact{group} // '', qr/^cordis:x:\d+:/, 'postinst created the group cordis');
    is($fact{logdir}, 'cordis:cordis:750', 'postinst created /var/log/cordis, owned by cordis');
    is($fact{rundir}, 'cordis:cordis:755', 'tmpfiles.d created /run/cordis, owned by cordis');
    is($fact{confmode}, 'root:cordis:640', 'cordis.conf is readable by root and group cordis only');
    like($fact{enabled} // '', qr{/cordis\.service$}, 'the unit is enabled (multi-user.target.wants)');
    is($step{verify}, 0, 'systemd-analyze verify accepts the installed unit');
    is($step{'test-as-cordis'}, 0, 'user cordis can read and check /etc/cordis/cordis.conf');
    is($step{start}, 0, 'cordis -d starts as user cordis with the shipped paths');
    is($fact{ping}, 'PONG', 'it answers PING');
    is($fact{master_user}, 'cordis', 'the master runs as cordis');
    is($step{logrotate}, 0, 'logrotate -f /etc/logrotate.d/cordis runs');
    like($fact{rotated} // '', qr/\bcordis\.log\.1\b/, 'logrotate rotated cordis.log');
    is($fact{newlog}, 'cordis:cordis:640', 'the new cordis.log is cordis:cordis 0640');
    cmp_ok($fact{reopened} // 0, '>=', 1, 'postrotate made cordis reopen its log (cordis -s reopen)');
    is($step{quit}, 0, 'cordis -s quit');
    is($fact{stopped}, 'yes', 'the master exited');
    is($step{reinstall}, 0, 'dpkg -i again');
    is($fact{kept_reinstall}, 1, 'an edited cordis.conf survives a reinstall');
    is($step{remove}, 0, 'dpkg -r');
    is($fact{kept_remove}, 1, 'dpkg -r keeps cordis.conf');
    is($fact{binary_after_remove}, 'no', 'dpkg -r removes the binary');
    is($step{purge}, 0, 'dpkg --purge');
    is($fact{etc_after_purge}, 'no', 'purge removes /etc/cordis/cordis.conf');
    is($fact{log_after_purge}, 'no', 'purge removes /var/log/cordis');
    is($fact{user_after_purge}, 'none', 'purge removes the user cordis');
    is($fact{group_after_purge}, 'none', 'purge removes the group cordis');
    like($fact{status_after_purge} // '', qr/not-installed|no packages found/,
         'dpkg no longer knows cordis');
    section_done('scratch root', $first);
}

# ---- the unit under a real systemd ----------------------------------------
# systemd runs as PID 1 of a private PID and mount namespace, chrooted into
# a second scratch root where the .deb is installed, and starts only
# cordis.service (through a target that wants it). systemctl, entered with
# nsenter, then reloads, stops, starts and kills cordis as an operator
# would. This runs the unit as shipped: Type=notify, ExecStartPre, user
# cordis, RuntimeDirectory/LogsDirectory and the whole sandbox (seccomp
# filter, read-only system, no capabilities). Everything in the namespace
# dies with its PID 1, which is killed at the end whatever happened.
my $systemd = $scratch->{why} ? { why => "it needs a scratch root: $scratch->{why}" } : probe_systemd();
probe_failed($systemd, 'systemd');
diag("systemd cannot run as PID 1 of a PID namespace in a scratch root here: $systemd->{why}. "
     . "The $SECTION_CHECKS{systemd} checks of cordis.service under systemd are skipped, not failed: "
     . "they would test this machine, not cordis.") if $systemd->{why} && !$scratch->{why};
SKIP: {
    skip("no systemd as PID 1 in a scratch root on this machine: $systemd->{why}", $SECTION_CHECKS{systemd})
        if $systemd->{why};
    my $first = Test::More->builder->current_test;
    my $port = free_port();
    my $admin = free_port();
    my $ovl = "$dir/systemd";
    my $root = "$ovl/root";
    write_file("$dir/boot.sh", scratch_root_sh($ovl) . <<"EOF");
chroot "\$ovl/root" /bin/sh -s <<'INNER' || exit 93
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive
dpkg -i /cordis-test/cordis.deb || exit 1
sed -i -e 's/"0.0.0.0:19000"/"127.0.0.1:$port"/' -e 's/"127.0.0.1:11080"/"127.0.0.1:$admin"/' /etc/cordis/cordis.conf
printf '[Unit]\\nDescription=cordis test\\nWants=cordis.service\\n' >/etc/systemd/system/cordis-test.target
INNER
exec chroot "\$ovl/root" env container=cordis-test /lib/systemd/systemd --system --unit=cordis-test.target
EOF
    my $boot = boot_systemd("$dir/boot.sh", "$dir/boot.log", 120);
    my $init = $boot->{init};
    ok($init, 'systemd runs as PID 1 of a scratch root (unshare --pid --mount; needs root)')
        or diag(read_file("$dir/boot.log"));
    my $sc = sub { run(120, 'nsenter', '-t', $init, '-m', '-p', 'chroot', $root, @_) };
    my $show = sub {
        my %p = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () }
                split /\n/, $sc->('systemctl', 'show', 'cordis.service', map { "-p$_" } @_)->{out};
        return \%p;
    };
    my $state = sub { my $s = $sc->('systemctl', 'is-active', 'cordis.service')->{out}; chomp $s; $s };
    my $logged = sub {
        my ($re) = @_;
        return wait_for(sub { $sc->('cat', '/var/log/cordis/cordis.log')->{out} =~ $re }, 10);
    };

    if ($init) {
        # Type=notify: "active" only once cordis said READY=1 (else
        # "activating" until TimeoutStartSec, then "failed"); "inactive"
        # until systemd gets to it.
        my $s = wait_for(sub { my $v = $state->(); $v =~ /^(active|failed)$/ ? $v : 0 }, 120)
                // $state->();
        is($s, 'active', 'systemd: cordis.service is active (READY=1 came)')
            or diag($sc->('systemctl', 'status', '--no-pager', '-l', 'cordis.service')->{out}
                    . $sc->('journalctl', '--no-pager', '-u', 'cordis.service')->{out});
    }
    # The rest drives a running service; without one each systemctl would
    # wait for READY=1 until TimeoutStartSec. One failure says so instead.
    if ($init && $state->() ne 'active') {
        fail('systemd: reload, logrotate, stop, start and restart not tried: cordis.service is not active');
    } elsif ($init) {
        my $p = $show->(qw(StatusText MainPID Type));
        like($p->{StatusText} // '', qr/workers on 127\.0\.0\.1:\Q$port\E/,
             'systemd: Status: says how many workers listen where (STATUS=)');
        is(eval { redis_cmd($port, 'PING') }, 'PONG', 'systemd: cordis answers PING');
        like($sc->('ps', '-o', 'user=', '-p', $p->{MainPID} // 0)->{out}, qr/^cordis$/m,
             'systemd: the master runs as user cordis');
        like($sc->('stat', '-c', '%U:%G', '/run/cordis/cordis.pid')->{out}, qr/^cordis:cordis$/m,
             'systemd: the pid file is in RuntimeDirectory /run/cordis');

        my $r = $sc->('systemctl', 'reload', 'cordis.service');
        is($r->{rc}, 0, 'systemd: systemctl reload') or diag($r->{out});
        like(wait_for(sub { my $t = $show->('StatusText')->{StatusText}; $t =~ /^ok/ ? $t : 0 }, 10) // '',
             qr/^ok: applied in place/, 'systemd: Status: says the reload was applied');
        is($state->(), 'active', 'systemd: still active after the reload');

        $sc->('sh', '-c', 'echo "bogus_option = 1;" >>/etc/cordis/cordis.conf');
        $sc->('systemctl', 'reload', 'cordis.service');
        like(wait_for(sub { my $t = $show->('StatusText')->{StatusText}; $t =~ /^failed/ ? $t : 0 }, 10) // '',
             qr/^failed: .*bogus_option: unknown setting/, 'systemd: Status: names the error of a bad reload');
        is($state->(), 'active', 'systemd: still active after a bad reload');
        $sc->('sed', '-i', '/bogus_option/d', '/etc/cordis/cordis.conf');

        # /run/systemd/system exists here: postrotate signals through systemctl.
        $r = $sc->('logrotate', '-f', '/etc/logrotate.d/cordis');
        is($r->{rc}, 0, 'systemd: logrotate -f') or diag($r->{out});
        ok($logged->(qr/log file reopened/), 'systemd: logrotate made cordis reopen its log (systemctl kill)');
        like($sc->('ls', '/var/log/cordis')->{out}, qr/^cordis\.log\.1$/m, 'systemd: the log was rotated');

        my $t0 = time;
        $r = $sc->('systemctl', 'stop', 'cordis.service');
        my $took = time - $t0;
        is($r->{rc}, 0, 'systemd: systemctl stop') or diag($r->{out});
        $p = $show->(qw(ActiveState Result ExecMainStatus));
        is($p->{ActiveState}, 'inactive', 'systemd: stopped');
        is($p->{Result}, 'success', 'systemd: the stop was clean (exit 0 after SIGQUIT)');
        cmp_ok($took, '<', 10, 'systemd: an idle cordis stops at once');
        ok($logged->(qr/graceful stop/), 'systemd: stop is graceful (SIGQUIT)');

        $sc->('systemctl', 'start', 'cordis.service');
        is($state->(), 'active', 'systemd: systemctl start');
        $sc->('systemctl', 'kill', '--kill-whom=main', '--signal=KILL', 'cordis.service');
        ok(wait_for(sub { my $q = $show->(qw(NRestarts ActiveState));
                          ($q->{NRestarts} // 0) >= 1 && $q->{ActiveState} eq 'active' }, 30),
           'systemd: a killed master is restarted (Restart=on-failure)');

        # Binary upgrade as an operator runs it under systemd: USR2 to the
        # master, which starts the installed binary as a second master; that
        # one claims MAINPID; then QUIT to the old one.
        my $old = $show->('MainPID')->{MainPID};
        $sc->('systemctl', 'kill', '--kill-whom=main', '--signal=USR2', 'cordis.service');
        my $new = wait_for(sub { my $m = $show->('MainPID')->{MainPID} // 0;
                                 $m && $m ne $old ? $m : 0 }, 20);
        ok($new, 'systemd: after SIGUSR2 the new master is the main process (MAINPID=)')
            or diag($sc->('tail', '-n', '20', '/var/log/cordis/cordis.log')->{out});
        like($sc->('cat', '/run/cordis/cordis.pid.oldbin')->{out}, qr/^\Q$old\E$/m,
             'systemd: the old master\'s pid is in cordis.pid.oldbin');
        $sc->('kill', '-QUIT', $old);
        ok(wait_for(sub { $sc->('kill', '-0', $old)->{rc} != 0 }, 20), 'systemd: the old master quits');
        is($state->(), 'active', 'systemd: still active once the old master is gone');
        is($show->('MainPID')->{MainPID}, $new, 'systemd: the new master is still the main process');
        is(eval { redis_cmd($port, 'PING') }, 'PONG', 'systemd: the new master answers PING');
        $sc->('systemctl', 'reload', 'cordis.service');
        ok($logged->(qr/\] \Q$new\E master: reloading/), 'systemd: systemctl reload reaches the new master');
        is($state->(), 'active', 'systemd: active after that reload');

        my ($exposure) = $sc->('systemd-analyze', 'security', '--no-pager', 'cordis.service')->{out}
                         =~ /Overall exposure level for cordis\.service: ([\d.]+)/;
        ok(defined $exposure && $exposure <= 2.0,
           'systemd-analyze security: exposure at most 2.0 (' . ($exposure // '?') . ')');

        $sc->('systemctl', 'stop', 'cordis.service');
    }
    ok(stop_systemd($boot), 'the systemd scratch root is gone');
    section_done('systemd', $first);
}

# ---- make install / make uninstall in the build directory -----------------

my $builddir = dirname(dirname($bin));
if (ok(-f "$builddir/Makefile", "the build directory of $bin has a Makefile")) {

    write_file("$dir/print.mk", "print-dirs:\n"
        . "\t\@echo 'sbindir=\$(sbindir)'\n\t\@echo 'sysconfdir=\$(sysconfdir)'\n"
        . "\t\@echo 'mandir=\$(mandir)'\n\t\@echo 'unitdir=\$(systemdsystemunitdir)'\n"
        . "\t\@echo 'prefix=\$(prefix)'\n");
    my %d = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () }
            split /\n/, run(60, 'make', '-s', '-C', $builddir, '-f', 'Makefile',
                            '-f', "$dir/print.mk", 'print-dirs')->{out};
    ok($d{sbindir} && $d{sysconfdir} && $d{mandir}, 'read the install directories')
        or diag(join ', ', map { "$_=$d{$_}" } sort keys %d);
    my $dest = "$dir/destdir";
    my $conf = "$dest$d{sysconfdir}/cordis/cordis.conf";
    my $make = sub { run(600, 'make', '-C', $builddir, "DESTDIR=$dest", @_) };
    my $files = sub {
        my @f;
        find({ no_chdir => 1, wanted => sub { push @f, substr($_, length $dest) if -f $_ || -l $_ } },
             $dest) if -d $dest;
        return sort @f;
    };

    $r = $make->('install');
    is($r->{rc}, 0, 'make install DESTDIR=...') or diag(tail_of($r->{out}, 40));
    my %installed = map { $_ => 1 } $files->();
    for my $path ("$d{sbindir}/cordis", "$d{sysconfdir}/cordis/cordis.conf",
                  "$d{mandir}/man8/cordis.8", "$d{mandir}/man5/cordis.conf.5",
                  "$d{sysconfdir}/logrotate.d/cordis") {
        ok($installed{$path}, "make install installs $path");
    }
    is(read_file($conf), read_file("$src/conf/cordis.conf"), 'the installed cordis.conf is conf/cordis.conf');
    my $lr = read_file("$dest$d{sysconfdir}/logrotate.d/cordis");
    like($lr, qr{\Q$d{sbindir}\E/cordis -s reopen -c \Q$d{sysconfdir}\E/cordis/cordis\.conf},
         'the installed logrotate file runs this build\'s cordis');
    if (($d{unitdir} // '') =~ m{^/}) {
        my $u = read_file("$dest$d{unitdir}/cordis.service");
        like($u, qr{^ExecStart=\Q$d{sbindir}\E/cordis -c \Q$d{sysconfdir}\E/cordis/cordis\.conf$}m,
             "make install installs the unit in $d{unitdir} with this build's paths");
        like($u, qr{^ExecStartPre=\Q$d{sbindir}\E/cordis -t -c \Q$d{sysconfdir}\E/cordis/cordis\.conf$}m,
             'ExecStartPre too');
    } else {
        pass('configured without a systemd unit directory: no unit installed');
    }

    # An edited cordis.conf is never overwritten.
    write_file($conf, read_file($conf) . "# edited by the admin\n");
    $r = $make->('install');
    is($r->{rc}, 0, 'make install over an edited cordis.conf') or diag(tail_of($r->{out}, 40));
    like(read_file($conf), qr/# edited by the admin/, 'the edited cordis.conf is kept');
    is(read_file("$conf.new"), read_file("$src/conf/cordis.conf"), 'the new one is cordis.conf.new');

    $r = $make->('uninstall');
    is($r->{rc}, 0, 'make uninstall') or diag(tail_of($r->{out}, 40));
    is_deeply([$files->()], ["$d{sysconfdir}/cordis/cordis.conf"],
              'make uninstall removes everything but the edited cordis.conf');

    unlink $conf;
    is($make->('install')->{rc}, 0, 'make install again');
    is($make->('uninstall')->{rc}, 0, 'make uninstall again');
    is_deeply([$files->()], [], 'make uninstall leaves no file behind');
}

done_testing();
