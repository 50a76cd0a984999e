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

# A port nobody listens on now (bound and released at once), below the
# kernel's ephemeral range: outgoing connections (clients, cordis to its
# backends) take ports from that range, and one could take ours between
# this check and the server's bind.
my %given;
my ($port_lo, $port_hi) = (20000, 32767);
if (open(my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range')) {
    my ($lo) = split ' ', scalar(<$fh> // '');
    $port_hi = $lo - 1 if defined $lo && $lo =~ /^\d+$/ && $lo > 12000 && $lo - 1 < $port_hi;
    $port_lo = 10000 if $port_hi - $port_lo < 5000;
    close $fh;
}
sub free_port {
    for (1 .. 100) {
        my $port = $port_lo + int(rand($port_hi - $port_lo + 1));
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
        return $line =~ /^(\+PONG|-LOADING|-NOAUTH)/;
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
    # Ready when the pid file is written (the listening sockets exist by
    # then) and the admin server answers. Nothing connects to the proxy
    # port: a probe there would be a client, and until its worker reads
    # the close it holds one of proxy.max_clients's places.
    my $text = read_file($conf->{path});
    my ($admin_port) = $text =~ /^admin\s*=\s*\{[^}]*?\blisten\s*=\s*"[^"]*:(\d+)"/ms;
    $admin_port //= 11080 unless $text =~ /^admin\s*=/m;   # the default admin.listen
    my $up = wait_for(sub {
        return 0 unless -s $conf->{pid_file};
        return 1 unless $admin_port;
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$admin_port", Timeout => 1)
            or return 0;
        print $s "GET /api/proxy/model HTTP/1.0\r\n\r\n";
        my $status = <$s> // '';
        return $status =~ m{^HTTP/1\.[01] 200 };
    }, 15);
    die "cordis did not start:\n" . read_file($stderr) . read_file($conf->{log}) unless $up;
    my $c = { pid => $pid, conf => $conf, stderr => $stderr };
    # The port accepts as soon as the master listens; wait for the workers
    # too, so tests that note worker pids see them all.
    my ($want) = ($conf->{text} // '') =~ /^\s*workers\s*=\s*(\d+)/m;
    $want = 2 unless defined $want;
    $want = `nproc` + 0 if $want == 0;
    wait_for(sub { my @w = worker_pids($c); @w >= $want }, 10) unless $opt{args};
    return $c;
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

# Takes the complete RESP multibulk requests off the front of $$buf (as a
# backend sees them) and returns them as [argv...] lists; an incomplete one
# stays in $$buf for more bytes.
sub resp_take_requests {
    my ($buf) = @_;
    my @reqs;
    while ($$buf =~ /\A\*(\d+)\r\n/) {
        my ($n, $pos, @args) = ($1, length($&));
        for (1 .. $n) {
            last unless substr($$buf, $pos) =~ /\A\$(\d+)\r\n/;
            my $len = $1;
            last if length($$buf) < $pos + length($&) + $len + 2;
            push @args, substr($$buf, $pos + length($&), $len);
            $pos += length($&) + $len + 2;
        }
        last if @args < $n;
        substr($$buf, 0, $pos) = '';
        push @reqs, \@args;
    }
    return @reqs;
}
push @EXPORT, 'resp_take_requests';

# Writes bytes to a socket from a child process, so a big pipeline can go
# out while the test reads the replies (or while nobody does). Returns the
# child's pid: waitpid it; exit status 0 when everything was written.
sub send_bg {
    my ($s, $bytes) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{ALRM} = 'DEFAULT';
        my $off = 0;
        while ($off < length $bytes) {
            my $n = syswrite($s, $bytes, length($bytes) - $off, $off);
            POSIX::_exit(1) unless defined $n;
            $off += $n;
        }
        POSIX::_exit(0);
    }
    return $pid;
}
push @EXPORT, 'send_bg';

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

# Reads one reply with a deadline of $t seconds (default 5): the reply, or
# 'closed' when the peer closed, or 'timeout'. A test's own alarm (its
# watchdog) is put back afterwards with what was left of it.
sub resp_read_or_closed {
    my ($s, $t) = @_;
    my $left = Time::HiRes::alarm(0);
    my $t0 = Time::HiRes::time();
    my $r = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        Time::HiRes::alarm($t // 5);
        my $x = resp_read($s);
        Time::HiRes::alarm(0);
        $x;
    };
    my $err = $@ // '';
    Time::HiRes::alarm(0);
    if ($left) {
        my $rest = $left - (Time::HiRes::time() - $t0);
        Time::HiRes::alarm($rest > 0.01 ? $rest : 0.01);
    }
    return 'closed' if $err eq "connection closed\n";
    return 'timeout' if $err eq "timeout\n";
    die $err if $err;
    return $r;
}
push @EXPORT, 'resp_read_or_closed';

# The $n-th key (from 0) named "$prefix:<i>" whose slot is served by group
# $g in the usual two-group layout (slots 0-511 -> 1, 512-1023 -> 2).
sub key_in_group {
    my ($prefix, $g, $n) = @_;
    $n //= 0;
    for my $i (0 .. 100000) {
        my $k = "$prefix:$i";
        next unless (codis_slot($k) < 512 ? 1 : 2) == $g;
        return $k if $n-- == 0;
    }
    die "no key for $prefix in group $g";
}
push @EXPORT, qw(key_in_group resp_encode);

# Processes the test forked itself (client loops): killed and reaped when
# the test ends, unless it reaped them first (forget_child).
my @children;
sub kill_child_at_exit { push @children, grep { $_ && $_ > 1 } @_ }
sub forget_child {
    my %gone = map { $_ => 1 } @_;
    @children = grep { !$gone{$_} } @children;
}
push @EXPORT, qw(kill_child_at_exit forget_child);

END {
    my $status = $?;
    for my $pid (@children) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
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

# --- Added for t/50-lifecycle.t and tools/reload-soak: load under lifecycle --
#
# load_start forks persistent clients (SET k v / GET k on one connection,
# values checked) and churners (connect, PING, close, over and over); each
# child writes its counts to a file when it stops. load_stop stops them by
# pid and sums the counts. A child never runs the parent's END blocks.
#
# Persistent client counts:
#   requests  commands sent             ok       answered as expected
#   wrong     GET answered with another value (or SET not +OK)
#   errors    answered with an error reply (counted in failed too)
#   failed    no correct answer: error reply, no reply (lost), half a reply,
#             no reply within reply_timeout, or a write that failed
#   lost      sent, then the connection ended before any byte of the reply
#   closed    connections that ended (any cause); closed_boundary: the end
#             was seen between replies, before the next request was sent
#   reconnects, refused (connects refused), connect_errors (other causes)
# Churner counts: connects, ok, refused, connect_errors, reset (connection
# ended or was reset before +PONG), failed (anything but +PONG, timeouts).

push @EXPORT, qw(load_start load_stop load_client_ports conn_owner_pid
                 load_keys_avoiding);

my @load_counts = qw(requests ok wrong errors failed lost timeouts closed
                     closed_boundary reconnects refused connect_errors connects
                     reset);

# $n keys per client for $clients clients whose Codis slot is not in any of
# the [lo, hi] ranges of @$avoid (a slot move never touches them).
sub load_keys_avoiding {
    my ($clients, $n, @avoid) = @_;
    my @keys;
    my $k = 0;
    for my $c (0 .. $clients - 1) {
        my @mine;
        while (@mine < $n) {
            my $key = "lifecycle:$c:" . $k++;
            my $slot = codis_slot($key);
            next if grep { $slot >= $_->[0] && $slot <= $_->[1] } @avoid;
            push @mine, $key;
        }
        push @keys, \@mine;
    }
    return \@keys;
}

# Takes one complete reply off the front of $$buf. Returns (1, value) or
# () when the buffer does not hold a whole reply yet. Values as resp_read.
sub _load_take {
    my ($buf) = @_;
    my $pos = 0;
    my @r = _load_parse($buf, \$pos);
    return unless @r;
    substr($$buf, 0, $pos, '');
    return (1, $r[0]);
}

sub _load_parse {
    my ($buf, $pos) = @_;
    my $eol = index($$buf, "\r\n", $$pos);
    return if $eol < 0;
    my $type = substr($$buf, $$pos, 1);
    my $rest = substr($$buf, $$pos + 1, $eol - $$pos - 1);
    my $next = $eol + 2;
    if ($type eq '+' || $type eq '-' || $type eq ':') {
        $$pos = $next;
        return $type eq '+' ? $rest : $type eq '-' ? { err => $rest } : 0 + $rest;
    }
    if ($type eq '$') {
        if ($rest < 0) { $$pos = $next; return undef }
        return if length($$buf) < $next + $rest + 2;
        $$pos = $next + $rest + 2;
        return substr($$buf, $next, $rest);
    }
    if ($type eq '*') {
        $$pos = $next;
        return undef if $rest < 0;
        my @items;
        for (1 .. $rest) {
            my @r = _load_parse($buf, $pos);
            return unless @r;
            push @items, $r[0];
        }
        return \@items;
    }
    return { err => "bad reply line: " . substr($$buf, $$pos, 40) };
}

# Reads until one whole reply is in $$buf (or timeout). Returns
# ('ok', value), ('eof'|'reset'|'partial'|'timeout', detail).
sub _load_read_reply {
    my ($s, $buf, $timeout) = @_;
    my $end = time + $timeout;
    while (1) {
        my @r = _load_take($buf);
        return ('ok', $r[1]) if @r;
        my $left = $end - time;
        return ('timeout', length($$buf) ? 'partial reply' : 'no reply') if $left <= 0;
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, $left > 0.5 ? 0.5 : $left);
        next if $n <= 0;
        my $got = sysread($s, $$buf, 65536, length $$buf);
        if (!defined $got) {
            next if $!{EINTR} || $!{EAGAIN};
            return (length($$buf) ? 'partial' : 'reset', "$!");
        }
        return (length($$buf) ? 'partial' : 'eof', 'connection closed') if $got == 0;
    }
}

# True when the peer has closed (EOF or reset waiting on the socket);
# 'data' when unexpected bytes are there; false when nothing is.
sub _load_peer_closed {
    my ($s) = @_;
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    return 0 unless select(my $rout = $rin, undef, undef, 0) > 0;
    my $got = sysread($s, my $tmp, 4096);
    return 1 if !$got;    # 0 = EOF, undef = reset
    return 'data';
}

sub _load_connect {
    my ($port, $c, $notes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp',
                                  Timeout => 5);
    if (!$s) {
        my $why = "$!";
        if ($why =~ /refused/i) { $c->{refused}++ } else { $c->{connect_errors}++ }
        push @$notes, sprintf('%.3f connect: %s', time, $why) if @$notes < 10;
        return;
    }
    require Socket;
    setsockopt($s, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1);
    binmode $s;
    $c->{connects}++;
    return $s;
}

sub _load_report {
    my ($file, $c, $notes) = @_;
    open my $fh, '>', "$file.tmp" or POSIX::_exit(1);
    print $fh "$_ " . ($c->{$_} // 0) . "\n" for @load_counts;
    print $fh "note $_\n" for @$notes;
    close $fh;
    rename "$file.tmp", $file;
}

sub _load_persistent {
    my ($o, $id, $file) = @_;
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    $SIG{PIPE} = 'IGNORE';
    my %c = map { $_ => 0 } @load_counts;
    my @notes;
    my $note = sub { push @notes, sprintf('%.3f %s', time, $_[0]) if @notes < 10 };
    my @keys = @{ $o->{keys}[$id] };
    my $end = time + $o->{seconds};
    my ($s, $buf, $seq) = (undef, '', 0);
    my $connect = sub {
        for (1 .. 100) {
            $s = _load_connect($o->{port}, \%c, \@notes);
            if ($s) {
                $buf = '';
                $c{reconnects}++ if $c{connects} > 1;
                if (open my $fh, '>', "$file.port.tmp") {
                    print $fh $s->sockport, "\n";
                    close $fh;
                    rename "$file.port.tmp", "$file.port";
                }
                return 1;
            }
            sleep 0.05;
            return 0 if $stop || time > $end;
        }
        return 0;
    };
    # Sends one command, reads its reply; returns the reply or, on failure,
    # undef after counting it (the connection is then dropped).
    my $cmd = sub {
        my (@args) = @_;
        my $closed = $s ? _load_peer_closed($s) : 1;
        if ($closed) {
            if ($s) {
                $c{closed}++;
                if ($closed eq 'data') {
                    $c{failed}++;
                    $note->("unexpected bytes between replies");
                } else {
                    $c{closed_boundary}++;
                }
                close $s;
                undef $s;
            }
            $connect->() or return (0, 'no connection');
        }
        $c{requests}++;
        my $out = resp_encode(@args);
        my $w = syswrite($s, $out);
        if (!defined $w || $w != length $out) {
            my $why = "$!";
            $c{failed}++;
            $c{lost}++;
            $c{closed}++;
            $note->("$args[0] $args[1]: write failed: $why");
            close $s;
            undef $s;
            return (0, 'write failed');
        }
        my ($st, $v) = _load_read_reply($s, \$buf, $o->{reply_timeout});
        return (1, $v) if $st eq 'ok';
        $v .= ', client port ' . ($s->sockport // '?');
        $c{failed}++;
        if ($st eq 'timeout') {
            $c{timeouts}++;
        } else {
            $c{closed}++;
            $c{lost}++ if $st eq 'eof' || $st eq 'reset';
        }
        $note->("$args[0] $args[1]: $st ($v)");
        close $s;
        undef $s;
        return (0, $st);
    };
    while (!$stop && time < $end && $c{requests} < $o->{max_requests}) {
        my $key = $keys[$seq % @keys];
        my $val = "v$id-" . $seq++ . '-' . int(rand(1e9));
        my ($ok, $r) = $cmd->('SET', $key, $val);
        next unless $ok;    # counted; the value is unknown now, so no GET
        if (ref $r eq 'HASH') {
            $c{errors}++; $c{failed}++;
            $note->("SET $key: -$r->{err}");
            next;
        } elsif (($r // '') ne 'OK') {
            $c{wrong}++;
            $note->("SET $key: " . ($r // '(nil)'));
            next;
        }
        $c{ok}++;
        ($ok, $r) = $cmd->('GET', $key);
        next unless $ok;
        if (ref $r eq 'HASH') {
            $c{errors}++; $c{failed}++;
            $note->("GET $key: -$r->{err}");
        } elsif (($r // '') ne $val) {
            $c{wrong}++;
            $note->("GET $key: got " . ($r // '(nil)') . ", want $val");
        } else {
            $c{ok}++;
        }
    }
    _load_report($file, \%c, \@notes);
    POSIX::_exit(0);
}

sub _load_churner {
    my ($o, $id, $file) = @_;
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    $SIG{PIPE} = 'IGNORE';
    my %c = map { $_ => 0 } @load_counts;
    my @notes;
    my $end = time + $o->{seconds};
    while (!$stop && time < $end && $c{connects} < $o->{max_requests}) {
        my $s = _load_connect($o->{port}, \%c, \@notes);
        if (!$s) {
            sleep 0.01;
            next;
        }
        $c{requests}++;
        my $buf = '';
        my $w = syswrite($s, "*1\r\n\$4\r\nPING\r\n");
        my ($st, $v) = defined $w ? _load_read_reply($s, \$buf, $o->{reply_timeout})
                                  : ('reset', "write: $!");
        if ($st eq 'ok' && !ref $v && ($v // '') eq 'PONG') {
            $c{ok}++;
        } else {
            my $what = $st eq 'ok' ? (ref $v ? "-$v->{err}" : $v // '(nil)') : "$st ($v)";
            if ($st eq 'eof' || $st eq 'reset') { $c{reset}++ } else { $c{failed}++ }
            push @notes, sprintf('%.3f PING: %s', time, $what) if @notes < 10;
        }
        close $s;
    }
    _load_report($file, \%c, \@notes);
    POSIX::_exit(0);
}

# %opt: port (required), clients (8), churners (1), keys (from
# load_keys_avoiding; default: 10 keys each, any slot), seconds (safety
# bound, 120), max_requests (per child, 10_000_000), reply_timeout (10).
sub load_start {
    my (%opt) = @_;
    my $o = { clients => 8, churners => 1, seconds => 120, max_requests => 10_000_000,
              reply_timeout => 10, %opt };
    $o->{keys} //= load_keys_avoiding($o->{clients}, 10);
    my $dir = tmpdir() . '/load-' . int(rand(1e9));
    mkdir $dir or die "$dir: $!";
    my $h = { dir => $dir, kids => [], started => time };
    my @kinds = ((map { ['client', $_] } 0 .. $o->{clients} - 1),
                 (map { ['churner', $_] } 0 .. $o->{churners} - 1));
    for my $k (@kinds) {
        my ($kind, $id) = @$k;
        my $file = "$dir/$kind-$id";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            eval {
                $kind eq 'client' ? _load_persistent($o, $id, $file)
                                  : _load_churner($o, $id, $file);
            };
            print STDERR "load $kind $id: $@" if $@;
            POSIX::_exit(1);
        }
        push @{ $h->{kids} }, { kind => $kind, id => $id, pid => $pid, file => $file };
    }
    return $h;
}

# Stops every load process (TERM: each finishes the request it is on) and
# returns { client => {sums}, churner => {sums}, per => [ {kind, id, counts,
# notes} ], seconds }.
sub load_stop {
    my ($h) = @_;
    kill 'TERM', map { $_->{pid} } @{ $h->{kids} };
    my $end = time + 30;
    my %res = (client => { map { $_ => 0 } @load_counts },
               churner => { map { $_ => 0 } @load_counts }, per => []);
    for my $k (@{ $h->{kids} }) {
        my $got = 0;
        while (time < $end) {
            $got = waitpid($k->{pid}, WNOHANG);
            last if $got == $k->{pid} || $got == -1;
            sleep 0.02;
        }
        if ($got != $k->{pid} && $got != -1) {
            kill 'KILL', $k->{pid};
            waitpid($k->{pid}, 0);
        }
        my %counts;
        my @notes;
        for (split /\n/, read_file($k->{file})) {
            if (/^note (.*)/) { push @notes, $1 }
            elsif (/^(\w+) (\d+)$/) { $counts{$1} = $2 }
        }
        if (!%counts) {
            push @notes, "load process $k->{pid} ($k->{kind} $k->{id}) did not report";
            $counts{failed} = 1;
        }
        $res{$k->{kind}}{$_} += $counts{$_} // 0 for @load_counts;
        push @{ $res{per} }, { kind => $k->{kind}, id => $k->{id}, counts => \%counts,
                               notes => \@notes };
    }
    $res{seconds} = time - $h->{started};
    return \%res;
}

# Local ports the persistent clients are connected from now: id => port.
sub load_client_ports {
    my ($h) = @_;
    my %ports;
    for my $k (grep { $_->{kind} eq 'client' } @{ $h->{kids} }) {
        my ($p) = read_file("$k->{file}.port") =~ /(\d+)/;
        $ports{$k->{id}} = $p if $p;
    }
    return \%ports;
}

# Which of @pids holds the server side of the TCP connection from
# 127.0.0.1:$client_port to 127.0.0.1:$server_port (from /proc/net/tcp and
# /proc/PID/fd); undef when none does.
sub conn_owner_pid {
    my ($server_port, $client_port, @pids) = @_;
    my $inode;
    for my $line (split /\n/, read_file('/proc/net/tcp')) {
        my @f = split ' ', $line;
        next unless @f > 9 && $f[1] =~ /:([0-9A-F]{4})$/;
        my $lport = hex $1;
        my ($rport) = $f[2] =~ /:([0-9A-F]{4})$/ or next;
        next unless $lport == $server_port && hex($rport) == $client_port;
        $inode = $f[9];
        last;
    }
    return unless $inode;
    for my $pid (@pids) {
        opendir my $d, "/proc/$pid/fd" or next;
        for my $fd (readdir $d) {
            my $t = readlink("/proc/$pid/fd/$fd") // next;
            return $pid if $t eq "socket:[$inode]";
        }
    }
    return;
}

1;
