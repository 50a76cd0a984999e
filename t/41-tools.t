#!/usr/bin/perl
# The README's two paths must not break each other: a tree configured and
# built in place ("./configure ... && make", as for "make install") must
# still run tools/demo, and the build directories of tools/check and
# tools/bench must still configure (autoconf refuses a second build
# directory of a tree configured in place; tools/build-dir configures them
# from a clean copy of the sources then).
#
# Works on a copy of the source tree (tools/copy-source), bootstrapped and
# configured in place there; every process it starts is stopped by pid.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cwd qw(abs_path);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Test::More;
use CordisTest;

plan tests => 16;
$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };
$SIG{ALRM} = sub { die "test timed out\n" };
alarm 600;

my $src = abs_path($ENV{CORDIS_SRCDIR} || "$FindBin::Bin/..");
my $dir = abs_path(tmpdir());
my $tree = "$dir/tree";

# Runs a shell command line; returns { rc, out } (stdout and stderr).
my $nrun = 0;
sub sh {
    my ($cmd) = @_;
    my $file = "$dir/sh-" . ++$nrun . '.out';
    system('sh', '-c', "($cmd) </dev/null >'$file' 2>&1");
    return { rc => $? >> 8, out => read_file($file) };
}

my $r = sh("'$src/tools/copy-source' '$tree'");
is($r->{rc}, 0, 'tools/copy-source copies the tree') or diag($r->{out});
ok(!-e "$tree/config.status" && !-e "$tree/src/cordis" && -f "$tree/src/session.c",
   'the copy has the sources and nothing built');

# The README's "Installing it as a service" path, in place.
$r = sh("cd '$tree' && tools/bootstrap && ./configure -q --prefix=/usr --sysconfdir=/etc "
        . "--localstatedir=/var && make -j2 -s");
is($r->{rc}, 0, 'bootstrap, ./configure and make in place') or diag($r->{out});
ok(-x "$tree/src/cordis", 'cordis built in place');

# tools/demo after that, on free ports, in the background.
my ($port, $admin, $b1, $b2) = map { free_port() } 1 .. 4;
my $out = "$dir/demo.out";
my $demo = fork // die "fork: $!";
if ($demo == 0) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', $out;
    open STDERR, '>&', \*STDOUT;
    setpgrp(0, 0);
    $ENV{CORDIS_DEMO_PORT} = $port;
    $ENV{CORDIS_DEMO_ADMIN_PORT} = $admin;
    $ENV{CORDIS_DEMO_BACKENDS} = "$b1 $b2";
    exec 'bash', "$tree/tools/demo" or POSIX::_exit(127);
}
my $exited = 0;
my $served = wait_for(sub {
    if (waitpid($demo, WNOHANG) == $demo) {
        $exited = 1;
        return -1;   # stop waiting: the demo is gone
    }
    my $v = eval {
        my $s = resp_connect($port);
        my $set = resp_cmd($s, 'SET', 'demo:key', 'v1');
        my $get = resp_cmd($s, 'GET', 'demo:key');
        close $s;
        ($set // '') eq 'OK' && ($get // '') eq 'v1';
    };
    return $v;
}, 240);
$served = 0 if $exited;
ok($served, 'tools/demo in a tree configured in place: cordis serves SET and GET')
    or diag(read_file($out));
my $said = read_file($out);
unlike($said, qr/source directory already configured/, 'no "already configured" error');
like($said, qr/one worker per CPU \(proxy\.workers = 0, the default: \d+ here\)/,
     'the demo says how many workers it runs');
like($said, qr/fewer workers than CPUs often serve\s+more/, 'and prints the workers trade-off');
ok(-f "$tree/build-src/configure.ac" && -f "$tree/build/.build-dir",
   'the demo built in build/ from the clean copy build-src/');

unless ($exited) {
    kill 'TERM', $demo;
    wait_for(sub { waitpid($demo, WNOHANG) == $demo }, 30)
        or do { kill 'KILL', -$demo; waitpid($demo, 0) };
}
my $closed = wait_for(sub {
    !grep { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$_", Timeout => 1) } $port, $b1, $b2;
}, 15);
ok($closed, 'stopping the demo stops cordis and both backends');
kill 'KILL', -$demo;   # anything of its process group left behind

# tools/check's and tools/bench's build directories from that tree.
$r = sh("cd '$tree' && tools/build-dir build-check/release --enable-werror");
is($r->{rc}, 0, 'tools/build-dir configures build-check/release') or diag($r->{out});
my $bdir = $r->{out};
chomp $bdir;
is($bdir, "$tree/build-check/release", '... and prints its path');
my $mtime = (stat "$bdir/config.status")[9];
sleep 1.1;
$r = sh("cd '$tree' && tools/build-dir build-check/release --enable-werror");
is((stat "$bdir/config.status")[9], $mtime, 'asked again with the same flags: left as it is');
$r = sh("cd '$tree' && tools/build-dir build-check/release --enable-debug");
like(read_file("$bdir/config.log"), qr/\$ \S*configure -q --enable-debug/,
     'asked with other flags: configured again with them');
$r = sh("make -C '$bdir' -j2 -s src/cordis");
is($r->{rc}, 0, 'and it builds') or diag($r->{out});
ok(-x "$tree/src/cordis" && -f "$tree/config.status", 'the in-place build is untouched');
