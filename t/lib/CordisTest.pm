# Helpers for cordis's system tests: real redis-server backends, the real
# cordis binary, and a small RESP client that shows replies exactly.
#
# Every process a test starts is stopped by pid when the test ends, and
# everything lives in a temporary directory.
package CordisTest;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Test::More;

our @EXPORT = qw(
    tmpdir free_port start_redis stop_redis start_cordis stop_cordis
    write_conf resp_connect resp_send resp_read resp_cmd redis_cmd
    wait_for read_file log_is_clean worker_pids cordis_bin
);

my @started;    # pids to stop at exit
my $tmp;

sub cordis_bin {
    my $bin = $ENV{CORDIS_BIN};
    unless ($bin && -x $bin) {
        my $src = $ENV{CORDIS_SRCDIR} || '.';
        $bin = -x "$src/src/cordis" ? "$src/src/cordis" : "src/cordis";
    }
    return $bin;
}

sub tmpdir {
    $tmp //= tempdir('cordis-test-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{CORDIS_KEEP});
    return $tmp;
}

# A port nobody listens on now (bound and released at once).
my %given;
sub free_port {
    for (1 .. 100) {
        my $port = 20000 + int(rand(30000));
        next if $given{$port};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                      Proto => 'tcp', ReuseAddr => 0, Listen => 1)
            or next;
        close $s;
        $given{$port} = 1;
        return $port;
    }
    die "no free port";
}

sub wait_for {
    my ($what, $timeout) = @_;
    $timeout //= 10;
    my $end = time + $timeout;
    while (time < $end) {
        my $v = $what->();
        return $v if $v;
        sleep 0.02;
    }
    return;
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

# Starts a redis-server on a free port; returns { port, pid, dir }.
sub start_redis {
    my (%opt) = @_;
    my $port = $opt{port} // free_port();
    my $dir = tmpdir() . "/redis-$port";
    mkdir $dir;
    my @args = ('redis-server', '--port', $port, '--bind', '127.0.0.1', '--save', '',
                '--appendonly', 'no', '--dir', $dir, '--logfile', "$dir/redis.log",
                '--daemonize', 'no', @{ $opt{args} || [] });
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec @args or POSIX::_exit(127);
    }
    push @started, $pid;
    my $ok = wait_for(sub {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1) or return 0;
        print $s "PING\r\n";
        my $line = <$s> // '';
        return $line =~ /^(\+PONG|-LOADING)/;
    }, 10);
    die "redis-server on $port did not start" unless $ok;
    return { port => $port, pid => $pid, dir => $dir };
}

sub stop_redis {
    my ($r, $signal) = @_;
    return unless $r && $r->{pid};
    kill $signal // 'TERM', $r->{pid};
    _reap($r->{pid}, 10);
    delete $r->{pid};
}

sub _reap {
    my ($pid, $timeout) = @_;
    my $end = time + $timeout;
    while (time < $end) {
        my $got = waitpid($pid, WNOHANG);
        if ($got == $pid || $got == -1) {
            @started = grep { $_ != $pid } @started;
            return $?;
        }
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    @started = grep { $_ != $pid } @started;
    return $?;
}

# Writes a config file. %opt: groups => [[id, "host:port"], ...],
# slots => [["0-511", 1], ...], plus any of proxy/session/backend/admin/log
# as hashes of option => value (strings are quoted, numbers and
# true/false are not), and extra => raw text to append.
sub write_conf {
    my (%opt) = @_;
    my $dir = tmpdir();
    my $name = $opt{name} // 'cordis.conf';
    my $path = "$dir/$name";
    my $port = $opt{port} // free_port();
    my %sections = (
        proxy => { listen => "127.0.0.1:$port", workers => 2, %{ $opt{proxy} || {} } },
        admin => { listen => '127.0.0.1:' . ($opt{admin_port} // free_port()), %{ $opt{admin} || {} } },
        log   => { file => "$dir/cordis.log", level => 'info', %{ $opt{log} || {} } },
        session => $opt{session} || {},
        backend => $opt{backend} || {},
    );
    my $text = "product_name = \"cordis-test\";\npid_file = \"$dir/cordis.pid\";\n";
    for my $section (qw(log proxy admin session backend)) {
        my $h = $sections{$section};
        next unless %$h;
        $text .= "$section = {\n";
        for my $k (sort keys %$h) {
            my $v = $h->{$k};
            $v = "\"$v\"" unless $v =~ /^(-?\d+|true|false)$/;
            $text .= "  $k = $v;\n";
        }
        $text .= "};\n";
    }
    my @groups = @{ $opt{groups} || [] };
    if (@groups) {
        $text .= "groups = (\n" . join(",\n", map {
            "  { id = $_->[0]; primary = \"$_->[1]\"; }"
        } @groups) . "\n);\n";
    }
    my @slots = @{ $opt{slots} || [] };
    if (@slots) {
        $text .= "slots = (\n" . join(",\n", map {
            "  { range = \"$_->[0]\"; group = $_->[1]; }"
        } @slots) . "\n);\n";
    }
    $text .= $opt{extra} if $opt{extra};
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return { path => $path, port => $port, dir => $dir, text => $text,
             pid_file => "$dir/cordis.pid", log => "$dir/cordis.log",
             admin_port => ($sections{admin}{listen} =~ /:(\d+)$/)[0] };
}

# Starts cordis on a config from write_conf; waits for the pid file and
# for the proxy port to accept. Returns { pid, conf, ... }.
sub start_cordis {
    my ($conf, %opt) = @_;
    unlink $conf->{pid_file};
    my $stderr = "$conf->{dir}/stderr.log";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', $stderr;
        open STDERR, '>>', $stderr;
        exec cordis_bin(), '-c', $conf->{path}, @{ $opt{args} || [] } or POSIX::_exit(127);
    }
    push @started, $pid;
    my $up = wait_for(sub {
        return 0 unless -s $conf->{pid_file};
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$conf->{port}", Timeout => 1);
        return $s ? 1 : 0;
    }, 15);
    die "cordis did not start:\n" . read_file($stderr) . read_file($conf->{log}) unless $up;
    return { pid => $pid, conf => $conf, stderr => $stderr };
}

# Stops cordis with a signal (QUIT by default); returns its exit status.
sub stop_cordis {
    my ($c, $signal, $timeout) = @_;
    return unless $c && $c->{pid};
    my @workers = worker_pids($c);
    kill $signal // 'QUIT', $c->{pid};
    my $status = _reap($c->{pid}, $timeout // 30);
    # Workers must not outlive their master.
    wait_for(sub { !grep { kill 0, $_ } @workers }, 5);
    kill 'KILL', grep { kill 0, $_ } @workers;
    delete $c->{pid};
    return $status;
}

# Pids of the master's children (its workers).
sub worker_pids {
    my ($c) = @_;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $text = read_file($stat) or next;
        my ($pid, $ppid) = $text =~ /^(\d+) \(.*\) \S+ (\d+)/s or next;
        push @pids, $pid if $ppid == $c->{pid};
    }
    return sort { $a <=> $b } @pids;
}

# No sanitizer report, crash or assertion reached the logs.
sub log_is_clean {
    my ($c) = @_;
    my $text = read_file($c->{conf}{log}) . read_file($c->{stderr});
    my @bad = grep { /AddressSanitizer|LeakSanitizer|runtime error:|Assertion|killed by signal/ }
              split /\n/, $text;
    ok(!@bad, 'no sanitizer report or crash in the log') or diag(join("\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]));
}

# --- RESP client ---------------------------------------------------------

sub resp_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp', Timeout => 5)
        or die "connect 127.0.0.1:$port: $!";
    $s->autoflush(1);
    binmode $s;
    return $s;
}

sub resp_encode {
    my @args = @_;
    my $out = '*' . scalar(@args) . "\r\n";
    $out .= '$' . length($_) . "\r\n$_\r\n" for @args;
    return $out;
}

sub resp_send {
    my ($s, @args) = @_;
    print $s resp_encode(@args);
}

sub _read_line {
    my ($s) = @_;
    local $/ = "\r\n";
    my $line = <$s>;
    die "connection closed\n" unless defined $line;
    chomp $line;
    return $line;
}

sub _read_exact {
    my ($s, $n) = @_;
    my $buf = '';
    while (length($buf) < $n) {
        my $got = read($s, $buf, $n - length($buf), length($buf));
        die "connection closed\n" unless $got;
    }
    return $buf;
}

# Reads one reply: a string for + and $ (undef for nil), an integer for :,
# an array ref for *, and { err => "text" } for errors.
sub resp_read {
    my ($s) = @_;
    my $line = _read_line($s);
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    return { err => $rest } if $type eq '-';
    return 0 + $rest if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $data = _read_exact($s, $rest + 2);
        return substr($data, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [ map { resp_read($s) } 1 .. $rest ];
    }
    die "bad reply line: $line\n";
}

sub resp_cmd {
    my ($s, @args) = @_;
    resp_send($s, @args);
    return resp_read($s);
}

# One command on a fresh connection to a port.
sub redis_cmd {
    my ($port, @args) = @_;
    my $s = resp_connect($port);
    my $r = resp_cmd($s, @args);
    close $s;
    return $r;
}

END {
    my $status = $?;
    for my $pid (@started) {
        kill 'TERM', $pid;
    }
    for my $pid (@started) {
        _reap($pid, 5);
    }
    $? = $status;
}

# --- appended helpers (data-path tests) -----------------------------------

# Codis's slot of a key: crc32 (IEEE, zlib) of its hashtag (bytes between
# the first '{' and the next '}' when both exist) or of the whole key, % 1024.
sub codis_slot {
    my ($key) = @_;
    require Compress::Zlib;
    my $tag = $key;
    my $open = index($key, '{');
    if ($open >= 0) {
        my $close = index($key, '}', $open + 1);
        $tag = substr($key, $open + 1, $close - $open - 1) if $close >= 0;
    }
    return Compress::Zlib::crc32($tag) % 1024;
}

# Resident set size of a process in kB (from /proc), or undef.
sub proc_rss_kb {
    my ($pid) = @_;
    my ($kb) = read_file("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)\s+kB/m;
    return $kb;
}

# Reads everything until the peer closes (or timeout seconds pass);
# returns the bytes and whether EOF was seen. Uses sysread: call it only on a
# socket whose earlier reads were sysreads too (not resp_read).
sub read_until_eof {
    my ($s, $timeout) = @_;
    require IO::Select;
    my $sel = IO::Select->new($s);
    my ($buf, $eof) = ('', 0);
    my $end = time + ($timeout // 5);
    while (time < $end) {
        last unless $sel->can_read($end - time);
        my $n = sysread($s, $buf, 65536, length $buf);
        if (!$n) { $eof = 1; last; }
    }
    return ($buf, $eof);
}

push @EXPORT, qw(codis_slot proc_rss_kb read_until_eof);

1;

# --- Added for t/00-conftest.t and t/10-process.t ---------------------------

push @EXPORT, qw(run_cordis write_conf_in wait_exit proc_title
                 log_is_clean_but stop_at_exit);

# Runs the cordis binary with @args and waits for it (at most 30 s).
# Returns { rc, out, err, secs }; rc is the exit code, or 128 + signal.
my $runs = 0;
sub run_cordis {
    my (@args) = @_;
    my $n = ++$runs;
    my ($out, $err) = (tmpdir() . "/run-$n.out", tmpdir() . "/run-$n.err");
    my $t0 = time;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>', $err;
        exec cordis_bin(), @args or POSIX::_exit(127);
    }
    my $end = time + 30;
    my $got = 0;
    while (time < $end) {
        $got = waitpid($pid, WNOHANG);
        last if $got == $pid;
        sleep 0.01;
    }
    if ($got != $pid) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    my $status = $?;
    my $rc = ($status & 127) ? 128 + ($status & 127) : $status >> 8;
    return { rc => $rc, out => read_file($out), err => read_file($err),
             secs => time - $t0 };
}

# As write_conf, but everything of one cordis instance (config, pid file,
# log, stderr) lives in its own subdirectory $sub of tmpdir(), so several
# instances can run in one test. Calling it again with the same $sub and
# the same port/admin_port rewrites that instance's config in place.
sub write_conf_in {
    my ($sub, %opt) = @_;
    my $dir = tmpdir() . "/$sub";
    mkdir $dir;
    my $conf = write_conf(%opt, name => "$sub/cordis.conf",
                          log => { file => "$dir/cordis.log", %{ $opt{log} || {} } });
    my $pid_file = "$dir/cordis.pid";
    (my $text = $conf->{text}) =~ s/^pid_file = ".*";$/pid_file = "$pid_file";/m;
    open my $fh, '>', $conf->{path} or die "$conf->{path}: $!";
    print $fh $text;
    close $fh;
    my ($log) = $text =~ /^\s*file = "(.*)";$/m;
    return { %$conf, text => $text, dir => $dir, pid_file => $pid_file, log => $log };
}

# Waits up to $timeout s for a cordis started by start_cordis to exit by
# itself. Returns its wait status, or undef when it is still running.
sub wait_exit {
    my ($c, $timeout) = @_;
    my $end = time + ($timeout // 10);
    while (time < $end) {
        my $got = waitpid($c->{pid}, WNOHANG);
        if ($got == $c->{pid}) {
            my $status = $?;
            @started = grep { $_ != $c->{pid} } @started;
            delete $c->{pid};
            return $status;
        }
        sleep 0.02;
    }
    return undef;
}

# The title of a process as ps shows it (its /proc/PID/cmdline); '' if gone.
sub proc_title {
    my ($pid) = @_;
    my $text = read_file("/proc/$pid/cmdline");
    $text =~ s/\0+\z//;
    $text =~ tr/\0/ /;
    return $text;
}

# As log_is_clean, but lines matching one of @allowed (regexes) are expected
# (such as the master reporting a worker the test killed with SIGKILL).
sub log_is_clean_but {
    my ($c, @allowed) = @_;
    my $text = read_file($c->{conf}{log}) . read_file($c->{stderr});
    my @bad = grep { my $l = $_; !grep { $l =~ $_ } @allowed }
              grep { /AddressSanitizer|LeakSanitizer|runtime error:|Assertion|killed by signal/ }
              split /\n/, $text;
    ok(!@bad, 'no sanitizer report or unexpected crash in the log')
        or diag(join("\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]));
}

# A process the test did not fork (a daemonized master) is stopped with
# TERM when the test ends, if it is still running.
sub stop_at_exit {
    my ($pid) = @_;
    push @started, $pid if $pid && $pid > 1;
}

1;

# --- Added for t/30-admin.t: the admin HTTP API -----------------------------

push @EXPORT, qw(admin_http admin_get admin_put);

# One HTTP request to the admin API of a config from write_conf (or to a
# port). %opt: content => body, headers => { name => value }.
# Returns { status, content, json (decoded body, or undef), headers }.
sub admin_http {
    my ($method, $where, $path, %opt) = @_;
    require HTTP::Tiny;
    require JSON::PP;
    my $port = ref $where ? $where->{admin_port} : $where;
    my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
    my %args = (headers => $opt{headers} || {});
    $args{content} = $opt{content} if defined $opt{content};
    my $r = $http->request($method, "http://127.0.0.1:$port$path", \%args);
    my $json = eval { JSON::PP->new->allow_nonref->decode($r->{content}) };
    return { status => $r->{status}, content => $r->{content} // '',
             json => $json, headers => $r->{headers} };
}

sub admin_get { my ($where, $path, %opt) = @_; return admin_http('GET', $where, $path, %opt) }
sub admin_put { my ($where, $path, %opt) = @_; return admin_http('PUT', $where, $path, %opt) }

1;
