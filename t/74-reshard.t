#!/usr/bin/perl
# Resharding on stock Redis, driven by cordis (reshard.h): slot ranges move
# between groups of real redis-server 7 backends while clients use them.
#
# Three redis-server backends; cordis with two workers starts with groups 1
# and 2 (slots 0-511 -> 1, 512-1023 -> 2); group 3 comes in by a SIGHUP with
# the slots unchanged; migrate = { state_file; rate = 20000 }.
#
#   1. data: ~30k keys of every type (strings, hashes, lists, sets, zsets,
#      streams; small and past the small encodings; some binary; some with
#      a TTL), a few values of 1-10 MB, 20 counters, known SET values, all
#      loaded pipelined through cordis; each key's type, PTTL and a digest
#      of its content (type-specific reads) recorded on its backend
#   2. refusals: bad JSON, slots out of range, a group that does not exist,
#      slots of two groups, its own group, no migrate.state_file (a second
#      cordis); GET /api/proxy/migrate is null before any migration, and
#      still null after refused PUTs (reshard.h: "null when no migration
#      was ever run")
#   3. the move 0-511 -> 3 under eight client processes (INCR with the
#      acknowledged INCRs counted, LPUSH/RPOP pairs against a model of the
#      list, SET/GET and MGET across the groups, never an older value); a
#      second PUT -> 409; progress, /metrics and migrate_from in the slots
#   4. on the backends (SCAN): group 1 empty, group 3 holds exactly what
#      group 1 had, group 2 untouched; counters = acknowledged INCRs; every
#      key's type, content and TTL as recorded; the big values intact
#   5. latency (diag only): p50/p99/max with and without a migration
#   6. persistence: 512-767 -> 3 stopped by SIGQUIT mid-move; the state file
#      has pending/moving/done; the restarted cordis resumes and finishes
#   7. a SIGHUP with the file still giving 0-511 to group 1 keeps them on
#      group 3 and warns ("the file still gives slots ... to the groups they
#      moved away from"); a file giving them to group 3 ends that entry of
#      the state file's "moved" ({slots, to, file_group})
#   8. the source backend stopped (SIGSTOP) mid-move (768-800 -> 1): status
#      "paused: ..." with last_error; SIGCONT: it resumes and finishes (the
#      data stays: SIGSTOP rather than a kill, the servers do not persist)
#   9. a 50 MB value with migrate.timeout = 10ms: a GET through cordis gets
#      an error naming MIGRATE, the key stays whole on the source and the
#      mover pauses; once a reload raises the timeout to the default 5s the
#      mover moves it by itself (cordis.conf(5): "reload: in place", "the
#      mover pauses and tries again until the timeout is raised"), and a GET
#      answers the 50 MB whole (200ms lets a 50 MB MIGRATE through on
#      loopback, so 10ms, the least migrate.timeout takes, is used)
use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use IO::Socket::INET;
use JSON::PP ();
use List::Util qw(max min sum0);
use POSIX qw(:sys_wait_h);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes qw(sleep time);

use CordisTest;

plan tests => 69;

$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(300);
$SIG{PIPE} = 'IGNORE';
my $t_begin = time;

my $json = JSON::PP->new->allow_nonref->canonical;
sub show { my $t = $json->encode($_[0]); return length $t > 600 ? substr($t, 0, 600) . '...' : $t }

# --- backends and cordis -----------------------------------------------------------

my @R = map { start_redis() } 1 .. 3;       # group g is $R[g - 1]
my @RP = map { $_->{port} } @R;
my @RA = map { "127.0.0.1:$_" } @RP;

my $stopped_redis;   # a backend left SIGSTOPped by a failing test goes on first
END { kill 'CONT', $stopped_redis if $stopped_redis }

my $state_file = tmpdir() . '/migrate.json';
my %main = (port => free_port(), admin_port => free_port());

# The main config: groups 1..$o{groups}, $o{slots}, migrate = { ... }.
sub main_conf {
    my (%o) = @_;
    my $ng = $o{groups} // 3;
    my %mig = (state_file => $state_file, rate => 20000, %{ $o{migrate} || {} });
    my $extra = "migrate = {\n" . join('', map {
        my $v = $mig{$_};
        $v = "\"$v\"" unless $v =~ /^\d+$/;
        "  $_ = $v;\n";
    } sort keys %mig) . "};\n";
    return write_conf_in('main', %main, proxy => { workers => 2 },
                         groups => [ map { [ $_, $RA[$_ - 1] ] } 1 .. $ng ],
                         slots => $o{slots} // [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
                         extra => $extra);
}

my $conf = main_conf(groups => 2);
my $cordis = start_cordis($conf);
my $CP = $conf->{port};

sub migration { return admin_get($conf, '/api/proxy/migrate')->{json} }
sub slot_table { my $l = admin_get($conf, '/api/proxy/slots')->{json}; return ref $l eq 'ARRAY' ? $l : [] }
sub state { return eval { JSON::PP->new->decode(read_file($state_file)) } // {} }
sub put_migrate { return admin_put($conf, '/api/proxy/migrate', content => $_[0]) }

# Rewrites the main config and sends SIGHUP; true once the reload is done.
sub hup {
    my (%o) = @_;
    $conf = main_conf(%o);
    my $count = sub { my @m = read_file($conf->{log}) =~ /reload (done|failed)/g; return scalar @m };
    my $before = $count->();
    kill 'HUP', $cordis->{pid};
    wait_for(sub { $count->() > $before }, 10) or return 0;
    my @all = read_file($conf->{log}) =~ /(reload (?:done|failed).*)/g;
    return 1 if $all[-1] =~ /^reload done/;
    diag("reload: $all[-1]");
    return 0;
}

# Polls GET /api/proxy/migrate until $done->($m) or $timeout s; every state seen
# goes through $each->($m). Returns the last state.
sub poll_migration {
    my ($done, $timeout, $each) = @_;
    my $end = time + $timeout;
    my $m;
    while (time < $end) {
        $m = migration();
        $each->($m) if $each && ref $m eq 'HASH';
        return $m if ref $m eq 'HASH' && $done->($m);
        sleep 0.02;
    }
    return $m;
}

# --- keys ----------------------------------------------------------------------------

# The $n-th key "$prefix:<i>" whose Codis slot is in [lo, hi].
sub key_in_slots {
    my ($prefix, $lo, $hi, $n) = @_;
    $n //= 0;
    for my $i (0 .. 1_000_000) {
        my $k = "$prefix:$i";
        my $s = codis_slot($k);
        next unless $s >= $lo && $s <= $hi;
        return $k if $n-- == 0;
    }
    die "no key for $prefix in slots $lo-$hi\n";
}

sub urandom {
    my ($n) = @_;
    open my $fh, '<:raw', '/dev/urandom' or die "/dev/urandom: $!";
    my $v = '';
    while (length $v < $n) {
        read($fh, $v, $n - length $v, length $v) or die "/dev/urandom: $!";
    }
    close $fh;
    return $v;
}

# Sends @$cmds on one connection to $port in pipelined chunks; returns the
# replies and, for each, the time its chunk was read.
sub pipeline {
    my ($port, $cmds, $chunk) = @_;
    $chunk //= 1000;
    my $s = resp_connect($port);
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    my (@replies, @times);
    for (my $i = 0; $i < @$cmds; $i += $chunk) {
        my $j = min($i + $chunk - 1, $#$cmds);
        print $s join('', map { resp_encode(@$_) } @$cmds[$i .. $j]);
        push @replies, resp_read($s) for $i .. $j;
        my $t = time;
        push @times, ($t) x ($j - $i + 1);
    }
    close $s;
    return (\@replies, \@times);
}

my (%rec, @load);    # recorded keys: key => { type, slot }; the load commands
my @types = qw(string string string string hash hash list set zset stream);
for my $i (0 .. 29_999) {
    my $type = $types[$i % 10];
    my $key = $i % 13 == 0 ? "rs:{t" . ($i % 61) . "}:$type:$i" : "rs:$type:$i";
    my $n = $i % 97 == 5 ? 200 : 3 + $i % 8;    # some past listpack/intset sizes
    if ($type eq 'string') {
        my $v = $i % 11 == 0 ? join('', map { chr(($i * 7 + $_ * 13) % 256) } 0 .. 20 + $i % 60)
              : $i % 5 == 0 ? $i * 3
              : "val-$i-" . ('x' x ($i % 40));
        push @load, [ 'SET', $key, $v ];
    } elsif ($type eq 'hash') {
        push @load, [ 'HSET', $key, map { ("f$_", "v$i.$_") } 1 .. $n ];
    } elsif ($type eq 'list') {
        push @load, [ 'RPUSH', $key, map { "e$i.$_" } 1 .. $n ];
    } elsif ($type eq 'set') {
        push @load, [ 'SADD', $key, $i % 3 == 0 ? (map { $i + $_ * 7 } 1 .. $n)
                                                : (map { "m$i.$_" } 1 .. $n) ];
    } elsif ($type eq 'zset') {
        push @load, [ 'ZADD', $key, map { ($_ * 1.5, "z$i.$_") } 1 .. $n ];
    } else {
        push @load, [ 'XADD', $key, "$i-$_", 'f', "s$i.$_", 'g', $_ ] for 1 .. 1 + $i % 3;
    }
    push @load, [ 'EXPIRE', $key, 300 + $i % 301 ] if $i % 7 == 3;
    $rec{$key} = { type => $type, slot => codis_slot($key) };
}
# Known SET values, over every slot.
my %known = map { ("rs:known:$_" => "known-$_") } 0 .. 199;
for my $k (sort keys %known) {
    push @load, [ 'SET', $k, $known{$k} ];
    $rec{$k} = { type => 'string', slot => codis_slot($k) };
}
my ($known_low) = grep { codis_slot($_) < 512 } sort keys %known;
my ($known_high) = grep { codis_slot($_) >= 801 && codis_slot($_) <= 899 } sort keys %known;
# Big values: 1 and 6 MB in 0-511 (first move), 3 and 10 MB in 512-767
# (the move stopped by SIGQUIT), a hash of 2000 fields of 1 kB.
my %big;
for my $b ([ 1, 0, 511 ], [ 3, 512, 767 ], [ 6, 0, 511 ], [ 10, 512, 767 ]) {
    my ($mb, $lo, $hi) = @$b;
    my $key = key_in_slots("rs:big$mb", $lo, $hi);
    my $v = urandom($mb * 1024 * 1024);
    push @load, [ 'SET', $key, $v ];
    $rec{$key} = { type => 'string', slot => codis_slot($key) };
    $big{$key} = md5_hex($v);
}
{
    my $key = key_in_slots('rs:bighash', 0, 511);
    my $blob = urandom(2000 * 1024);
    push @load, [ 'HSET', $key, map { ("field$_", substr($blob, $_ * 1024, 1024)) } 0 .. 1999 ];
    $rec{$key} = { type => 'hash', slot => codis_slot($key) };
}
# Keys the clients change: 20 counters (14 in 0-511), a list per client
# (0-511), three SET/GET keys per client (two in 0-511, one in 801-899).
my @counters = ((map { key_in_slots('rs:ctr', 0, 511, $_) } 0 .. 13),
                (map { key_in_slots('rs:ctr', 801, 899, $_) } 0 .. 5));
my @lists = map { key_in_slots("rs:list:c$_", 0, 511) } 0 .. 7;
my @kv = map { my $c = $_; [ key_in_slots("rs:kv:c$c", 0, 511, 0), key_in_slots("rs:kv:c$c", 0, 511, 1),
                             key_in_slots("rs:kv:c$c", 801, 899, 0) ] } 0 .. 7;
push @load, [ 'SET', $_, 0 ] for @counters;
push @load, [ 'RPUSH', $_, 'base-a', 'base-b' ] for @lists;
for my $c (0 .. 7) {
    push @load, [ 'SET', $_, "c$c:$_:0" ] for @{ $kv[$c] };
}
my $nkeys = keys(%rec) + @counters + @lists + 3 * 8;

my $t0 = time;
my ($replies) = pipeline($CP, \@load, 500);
my @bad = grep { ref $_ eq 'HASH' || !defined $_ } @$replies;
my $dbsize = sum0(map { redis_cmd($_, 'DBSIZE') } @RP[0, 1]);
ok(!@bad && @$replies == @load && $dbsize == $nkeys,
   sprintf('data: %d commands pipelined through cordis, %d keys on groups 1 and 2', scalar @load, $nkeys))
    or diag(sprintf('%d error replies (%s), %d keys on the backends, %d expected', scalar @bad,
                    show([ @bad[0 .. min(4, $#bad)] ]), $dbsize, $nkeys));
diag(sprintf('%d keys (%d recorded, %d with a TTL) loaded in %.1f s', $nkeys, scalar keys %rec,
             scalar(grep { $_->[0] eq 'EXPIRE' } @load), time - $t0));

# --- reading keys on the backends ---------------------------------------------------

sub read_cmd {
    my ($k, $type) = @_;
    return $type eq 'string' ? [ 'GET', $k ]
         : $type eq 'hash'   ? [ 'HGETALL', $k ]
         : $type eq 'list'   ? [ 'LRANGE', $k, 0, -1 ]
         : $type eq 'set'    ? [ 'SMEMBERS', $k ]
         : $type eq 'zset'   ? [ 'ZRANGE', $k, 0, -1, 'WITHSCORES' ]
         :                     [ 'XRANGE', $k, '-', '+' ];
}

sub canon {
    my ($v) = @_;
    return 'err:' . $v->{err} if ref $v eq 'HASH';
    return '[' . join(',', map { canon($_) } @$v) . ']' if ref $v eq 'ARRAY';
    return defined $v ? length($v) . ':' . $v : 'nil';
}

sub digest {
    my ($type, $v) = @_;
    if (ref $v eq 'ARRAY' && $type eq 'hash') {
        my %h = @$v;
        $v = [ map { ($_, $h{$_}) } sort keys %h ];
    } elsif (ref $v eq 'ARRAY' && $type eq 'set') {
        $v = [ sort @$v ];
    }
    return md5_hex(canon($v));
}

# Type, PTTL and digest of @keys on the backend at $port:
# key => { type, pttl, digest, t } (t: when it was read).
sub snapshot {
    my ($port, @keys) = @_;
    my @cmds = map { ([ 'TYPE', $_ ], [ 'PTTL', $_ ], read_cmd($_, $rec{$_}{type})) } @keys;
    my ($r, $t) = pipeline($port, \@cmds, 900);
    my %snap;
    for my $i (0 .. $#keys) {
        my $k = $keys[$i];
        $snap{$k} = { type => $r->[3 * $i], pttl => $r->[3 * $i + 1],
                      digest => digest($rec{$k}{type}, $r->[3 * $i + 2]), t => $t->[3 * $i + 1] };
    }
    return \%snap;
}

# Every key on the backend at $port (SCAN).
sub scan_keys {
    my ($port) = @_;
    my $s = resp_connect($port);
    my ($cursor, @keys) = ('0');
    do {
        my $r = resp_cmd($s, 'SCAN', $cursor, 'COUNT', 1000);
        die "SCAN on $port: " . show($r) . "\n" unless ref $r eq 'ARRAY';
        $cursor = $r->[0];
        push @keys, @{ $r->[1] };
    } while ($cursor ne '0');
    close $s;
    return @keys;
}

# Reads the recorded @keys on the group $where->($slot) says and compares
# them with %before: (missing or other type, other content, TTL off) with
# samples of each.
my %before;
sub compare {
    my ($where, @keys) = @_;
    my %by;
    push @{ $by{ $where->($rec{$_}{slot}) } }, $_ for @keys;
    my (@type, @content, @ttl);
    for my $g (sort keys %by) {
        my $now = snapshot($RP[$g - 1], @{ $by{$g} });
        for my $k (@{ $by{$g} }) {
            my ($b, $a) = ($before{$k}, $now->{$k});
            if ($a->{type} ne $b->{type}) {
                push @type, "$k: $a->{type} on group $g, was $b->{type}";
                next;
            }
            push @content, "$k (group $g)" if $a->{digest} ne $b->{digest};
            if ($b->{pttl} < 0) {
                push @ttl, "$k: pttl $a->{pttl}, was $b->{pttl}" if $a->{pttl} != $b->{pttl};
            } else {
                my $want = $b->{pttl} - ($a->{t} - $b->{t}) * 1000;
                push @ttl, sprintf('%s: pttl %d, expected about %d', $k, $a->{pttl}, $want)
                    if $a->{pttl} < 0 || abs($a->{pttl} - $want) > 2000;
            }
        }
    }
    return (\@type, \@content, \@ttl);
}

sub few { my @l = @{ $_[0] }; return join('; ', @l[0 .. min(4, $#l)]) . (@l > 5 ? sprintf(' (%d in all)', scalar @l) : '') }

{
    my $t = time;
    my @k1 = grep { $rec{$_}{slot} < 512 } sort keys %rec;
    my @k2 = grep { $rec{$_}{slot} >= 512 } sort keys %rec;
    %before = (%{ snapshot($RP[0], @k1) }, %{ snapshot($RP[1], @k2) });
    my @wrong = grep { $before{$_}{type} ne $rec{$_}{type} } sort keys %rec;
    my $nttl = grep { $_->{pttl} > 0 } values %before;
    ok(!@wrong && $nttl > 4000, "recorded: every key of its type on its group, $nttl with a TTL")
        or diag(few([ map { "$_: $before{$_}{type}, loaded as $rec{$_}{type}" } @wrong ]));
    diag(sprintf('recorded type, PTTL and digest of %d keys in %.1f s', scalar keys %before, time - $t));
}

# --- 2. refusals ----------------------------------------------------------------------

{
    my $r = admin_get($conf, '/api/proxy/migrate');
    ok($r->{status} == 200 && $r->{content} =~ /^\s*null\s*$/,
       'GET /api/proxy/migrate before any migration: null')
        or diag("$r->{status} $r->{content}");

    $r = put_migrate('{"slots": "0-511", "to": ');
    is($r->{status}, 400, 'PUT /api/proxy/migrate with bad JSON: 400') or diag($r->{content});

    $r = put_migrate('{"slots": "0-2000", "to": 2}');
    ok($r->{status} == 400 && ($r->{json}{error} // '') =~ /slots/,
       'slots "0-2000": 400 naming slots') or diag("$r->{status} $r->{content}");

    $r = put_migrate('{"slots": "0-63", "to": 3}');
    ok($r->{status} == 400 && ($r->{json}{error} // '') =~ /no group with id 3/,
       'to a group that does not exist (3, before it is configured): 400')
        or diag("$r->{status} $r->{content}");

    $r = put_migrate('{"slots": "500-600", "to": 2}');
    ok($r->{status} == 400 && ($r->{json}{error} // '') =~ /groups 1 and 2/,
       'slots of groups 1 and 2: 400 naming both') or diag("$r->{status} $r->{content}");

    $r = put_migrate('{"slots": "0-10", "to": 1}');
    ok($r->{status} == 400 && ($r->{json}{error} // '') =~ /group 1's already/,
       'slots to the group that has them: 400') or diag("$r->{status} $r->{content}");

    # reshard.h: "null when no migration was ever run".
    $r = admin_get($conf, '/api/proxy/migrate');
    ok($r->{status} == 200 && $r->{content} =~ /^\s*null\s*$/,
       'GET /api/proxy/migrate after refused PUTs: still null (no migration was ever run)')
        or diag("$r->{status} $r->{content}");

    # A second cordis in front of the same groups, without migrate.state_file.
    my $c2 = write_conf_in('nostate', proxy => { workers => 2 },
                           groups => [ [ 1, $RA[0] ], [ 2, $RA[1] ] ],
                           slots => [ [ '0-511', 1 ], [ '512-1023', 2 ] ]);
    my $cordis2 = start_cordis($c2);
    $r = admin_put($c2, '/api/proxy/migrate', content => '{"slots": "0-63", "to": 2}');
    ok($r->{status} == 400 && ($r->{json}{error} // '') =~ /migrate\.state_file/,
       'without migrate.state_file: 400 naming migrate.state_file')
        or diag("$r->{status} $r->{content}");
    $r = admin_get($c2, '/api/proxy/migrate');
    ok($r->{status} == 200 && $r->{content} =~ /^\s*null\s*$/,
       'without migrate.state_file: GET /api/proxy/migrate is null') or diag($r->{content});
    is(redis_cmd($c2->{port}, 'GET', $known_low), $known{$known_low},
       'the second cordis serves the data unchanged');
    stop_cordis($cordis2);
    log_is_clean($cordis2);
}

# --- group 3 comes in by SIGHUP ---------------------------------------------------------

ok(hup(), 'SIGHUP with group 3 added (slots unchanged): reload done');
{
    my $t = slot_table();
    ok(@$t == 1024 && !grep({ $_->{group} != ($_->{id} < 512 ? 1 : 2) } @$t),
       'after the reload: slots still 0-511 -> 1, 512-1023 -> 2');
}

# --- 3. the move 0-511 -> 3 under load ----------------------------------------------------

my @client_pids;

# A client process: sequential requests through cordis, each timed; see the
# header. Results to $dir/client-$id.json, latencies (send time, seconds)
# packed as doubles to $dir/client-$id.lat.
sub client_main {
    my ($id, $dir) = @_;
    my $parent = getppid();
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    $SIG{ALRM} = 'DEFAULT';
    $SIG{__DIE__} = 'DEFAULT';
    my %r = (ops => 0, errors => 0, wrong => 0, older => 0, lost => 0, incr => {},
             samples => [], list_ops => 0, mget => 0);
    my $sample = sub { push @{ $r{samples} }, sprintf('%.3f c%d %s', time, $id, $_[0]) if @{ $r{samples} } < 10 };
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$CP", Proto => 'tcp', Timeout => 5);
    if (!$s) {
        $r{lost}++;
        $sample->("connect: $!");
        $stop = 1;
    } else {
        setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
        binmode $s;
    }
    my $buf = '';
    my $lat = '';
    my $cmd = sub {
        my @a = @_;
        my $out = resp_encode(@a);
        my $t = time;
        my $w = syswrite($s, $out);
        if (!defined $w || $w != length $out) {
            $r{lost}++;
            $sample->("$a[0] $a[1]: write failed: $!");
            $stop = 1;
            return 0;
        }
        my ($st, $v) = CordisTest::_load_read_reply($s, \$buf, 10);
        $lat .= pack('dd', $t, time - $t);
        $r{ops}++;
        if ($st ne 'ok') {
            $r{lost}++;
            $sample->("$a[0] $a[1]: $st ($v)");
            $stop = 1;
            return 0;
        }
        if (ref $v eq 'HASH') {
            $r{errors}++;
            $sample->("$a[0] $a[1]: -$v->{err}");
            return 0;
        }
        return (1, $v);
    };
    my @keys = @{ $kv[$id] };
    my %seq = map { $_ => 0 } @keys;       # the last value written (its number)
    my %last;                              # the last counter value seen
    my @queue = ('base-b', 'base-a');      # what RPOP gives next, in order
    my $list_ok = 1;
    my $check = sub {
        my ($key, $v, $what) = @_;
        my $n = defined $v && !ref $v && $v =~ /^c\Q$id:$key\E:(\d+)\z/ ? $1 : undef;
        return if defined $n && $n == $seq{$key};
        if (defined $n && $n < $seq{$key}) {
            $r{older}++;
        } else {
            $r{wrong}++;
        }
        $sample->("$what $key: " . (defined $v ? show($v) : 'nil') . ", wrote #$seq{$key}");
    };
    my $end = time + 150;
    my $n = 0;
    while (!$stop && time < $end && getppid() == $parent) {
        $n++;
        my $c = $counters[($n + $id) % @counters];
        my ($ok, $v) = $cmd->('INCR', $c);
        if ($ok) {
            if (!ref $v && defined $v && $v =~ /^\d+$/ && $v > ($last{$c} // 0)) {
                $r{incr}{$c}++;
                $last{$c} = $v;
            } else {
                $r{incr}{$c}++ if !ref $v && defined $v && $v =~ /^\d+$/;
                $r{ref $v || !defined $v || $v !~ /^\d+$/ ? 'wrong' : 'older'}++;
                $sample->("INCR $c: " . show($v) . ', saw ' . ($last{$c} // 0) . ' before');
            }
        }
        next if $stop;
        if ($list_ok) {
            my $item = "c$id:$n";
            ($ok, $v) = $cmd->('LPUSH', $lists[$id], $item);
            if (!$ok) {
                $list_ok = 0;
            } else {
                push @queue, $item;
                if ($v != 3) {
                    $r{wrong}++;
                    $sample->("LPUSH $lists[$id]: length $v, expected 3");
                }
                ($ok, $v) = $cmd->('RPOP', $lists[$id]);
                my $want = shift @queue;
                if (!$ok) {
                    $list_ok = 0;
                } elsif (!defined $v || ref $v || $v ne $want) {
                    $r{wrong}++;
                    $sample->("RPOP $lists[$id]: " . show($v) . ", expected $want");
                    $list_ok = 0;
                }
                $r{list_ops} += 2;
            }
        }
        next if $stop;
        my $key = $keys[$n % @keys];
        ($ok, $v) = $cmd->('SET', $key, "c$id:$key:$n");
        if ($ok) {
            if (!ref $v && ($v // '') eq 'OK') {
                $seq{$key} = $n;
            } else {
                $r{wrong}++;
                $sample->("SET $key: " . show($v));
            }
        }
        next if $stop;
        ($ok, $v) = $cmd->('GET', $key);
        $check->($key, $v, 'GET') if $ok;
        next if $stop;
        ($ok, $v) = $cmd->('MGET', @keys, $known_low, $known_high);
        if ($ok) {
            $r{mget}++;
            if (ref $v ne 'ARRAY' || @$v != @keys + 2) {
                $r{wrong}++;
                $sample->('MGET: ' . show($v));
            } else {
                $check->($keys[$_], $v->[$_], 'MGET') for 0 .. $#keys;
                for ([ $known_low, $v->[-2] ], [ $known_high, $v->[-1] ]) {
                    next if defined $_->[1] && !ref $_->[1] && $_->[1] eq $known{ $_->[0] };
                    $r{wrong}++;
                    $sample->("MGET $_->[0]: " . show($_->[1]));
                }
            }
        }
    }
    open my $fh, '>:raw', "$dir/client-$id.lat" or POSIX::_exit(1);
    print $fh $lat;
    close $fh;
    open $fh, '>', "$dir/client-$id.tmp" or POSIX::_exit(1);
    print $fh JSON::PP->new->encode(\%r);
    close $fh;
    rename "$dir/client-$id.tmp", "$dir/client-$id.json";
    POSIX::_exit(0);
}

sub percentiles {
    my (@l) = sort { $a <=> $b } @_;
    return 'no requests' unless @l;
    return sprintf('n=%d p50=%.2f ms p99=%.2f ms max=%.2f ms', scalar @l, 1000 * $l[int(@l * 0.5)],
                   1000 * $l[min($#l, int(@l * 0.99))], 1000 * $l[-1]);
}

my $load_dir = tmpdir() . '/load';
mkdir $load_dir or die "$load_dir: $!";
for my $id (0 .. 7) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        eval { client_main($id, $load_dir) };
        print STDERR "client $id: $@" if $@;
        POSIX::_exit(1);
    }
    push @client_pids, $pid;
    kill_child_at_exit($pid);
}
my $t_load = time;
sleep 4;                         # 1 s to settle, then 3 s of the load alone
my $t_m0 = time;
my $put = put_migrate('{"slots": "0-511", "to": 3}');
ok($put->{status} == 200 && ($put->{json}{migration}{from} // 0) == 1
   && ($put->{json}{migration}{to} // 0) == 3,
   'PUT /api/proxy/migrate {"slots":"0-511","to":3}: 200, from group 1 to 3')
    or diag("$put->{status} $put->{content}");
{
    my $r = put_migrate('{"slots": "512-600", "to": 3}');
    ok($r->{status} == 409 && ($r->{json}{error} // '') =~ /running/,
       'a second PUT while it runs: 409') or diag("$r->{status} $r->{content}");
}
my (%seen, @trail, $metrics_during, @moving_bad);
my ($polls, $last_state) = (0, '');
my $final = poll_migration(sub { ($_[0]{status} // '') eq 'done' }, 120, sub {
    my ($m) = @_;
    my $p = $m->{progress} // {};
    $seen{moving}++ if ($p->{moving} // 0) > 0;
    $seen{partial}++ if ($p->{done} // 0) > 0 && ($p->{done} // 0) < 512;
    my $now = sprintf('%s %d/%d/%d', $m->{status} // '?', $p->{pending} // -1, $p->{moving} // -1,
                      $p->{done} // -1);
    push @trail, sprintf('%.2f %s', time - $t_m0, $now) if $now ne $last_state;
    $last_state = $now;
    return if ($m->{status} // '') eq 'done';
    if ($polls % 2 == 0) {
        my @mv = grep { $_->{migrate_from_group_id} } @{ slot_table() };
        $seen{slots_moving} = max($seen{slots_moving} // 0, scalar @mv);
        push @moving_bad, grep { $_->{id} > 511 || $_->{group} != 3 || $_->{migrate_from_group_id} != 1 } @mv;
    }
    if ($polls % 5 == 0) {
        my $t = admin_get($conf, '/metrics')->{content} // '';
        $metrics_during //= $t if $t =~ /^cordis_migration_slots\{state="moving"\} [1-9]/m;
    }
    $polls++;
});
my $t_m1 = time;
ok(($final->{status} // '') eq 'done', sprintf('the move finished: status "done" after %.1f s', $t_m1 - $t_m0))
    or diag(show($final));
diag('progress (s status pending/moving/done): ' . join(', ', @trail));
ok($seen{moving} && $seen{partial}, 'progress moved: slots seen moving, and done between 0 and 512')
    or diag(show(\%seen));
{
    my $p = $final->{progress} // {};
    ok(($p->{done} // 0) == 512 && ($p->{pending} // 1) == 0 && ($p->{moving} // 1) == 0
       && ($final->{keys_moved} // 0) > 0 && ($final->{bytes_moved} // 0) > 0
       && ($final->{errors} // 1) == 0 && !$final->{active},
       'at the end: 512 slots done, none pending or moving, keys_moved > 0, bytes_moved > 0, no error')
        or diag(show($final));
}
{
    my $t = admin_get($conf, '/metrics')->{content} // '';
    my ($keys) = $t =~ /^cordis_migration_keys_moved_total (\d+)$/m;
    ok($metrics_during && $metrics_during =~ /^cordis_migration_keys_moved_total \d+$/m
       && $t =~ /^cordis_migration_slots\{state="done"\} 512$/m && ($keys // 0) > 0,
       '/metrics: cordis_migration_slots (moving during the move, 512 done after) and cordis_migration_keys_moved_total')
        or diag(($metrics_during ? '' : "no /metrics poll saw slots moving\n")
                . join("\n", grep { /^cordis_migration/ } split /\n/, $t));
}
ok(($seen{slots_moving} // 0) > 0 && !@moving_bad,
   sprintf('GET /api/proxy/slots during the move: slots with migrate_from (up to %d at once), all of 0-511, group 3 from 1',
           $seen{slots_moving} // 0))
    or diag(show([ @moving_bad[0 .. min(3, $#moving_bad)] ]));
{
    my $t = slot_table();
    my @bad = grep { $_->{migrate_from_group_id} || $_->{group} != ($_->{id} < 512 ? 3 : 2) } @$t;
    ok(@$t == 1024 && !@bad, 'GET /api/proxy/slots after: no migrate_from, 0-511 -> 3, 512-1023 -> 2')
        or diag(show([ @bad[0 .. min(3, $#bad)] ]));
    my $st = state();
    my @mv = @{ $st->{moved} // [] };
    ok(!$st->{migration} && @mv == 1 && ($mv[0]{file_group} // 0) == 1 && ($mv[0]{to} // 0) == 3
       && ($mv[0]{slots} // '') eq '0-511',
       'state file: no migration in flight, "moved" has 0-511 to group 3 (file_group 1)') or diag(show($st));
}
sleep 0.5;
my @res;
{
    kill 'TERM', @client_pids;
    for my $pid (@client_pids) {
        waitpid($pid, 0);
    }
    forget_child(@client_pids);
    @client_pids = ();
    my (@base, @during);
    for my $id (0 .. 7) {
        my $r = eval { JSON::PP->new->decode(read_file("$load_dir/client-$id.json")) }
            // { lost => 1, samples => ["client $id did not report"] };
        my $raw = read_file("$load_dir/client-$id.lat");
        my @l = unpack('d*', $raw);
        my $in = 0;
        for (my $i = 0; $i < @l; $i += 2) {
            my ($t, $d) = @l[$i, $i + 1];
            push @base, $d if $t >= $t_load + 1 && $t < $t_m0;
            if ($t >= $t_m0 && $t <= $t_m1) {
                push @during, $d;
                $in++;
            }
        }
        $r->{in_move} = $in;
        push @res, $r;
    }
    my %sum;
    for my $r (@res) {
        $sum{$_} += $r->{$_} // 0 for qw(ops errors wrong older lost list_ops mget in_move);
    }
    my @samples = map { @{ $_->{samples} // [] } } @res;
    ok($sum{errors} == 0 && $sum{lost} == 0,
       sprintf('clients: %d requests (%d during the move), no error reply, none lost', $sum{ops}, $sum{in_move}))
        or diag(join("\n", @samples[0 .. min(9, $#samples)]));
    ok($sum{wrong} == 0 && $sum{older} == 0 && $sum{list_ops} > 0 && $sum{mget} > 0,
       'clients: every GET/MGET the last value written, every RPOP what the list model says, INCR increasing')
        or diag(sprintf("wrong %d, older %d\n", $sum{wrong}, $sum{older}) . join("\n", @samples[0 .. min(9, $#samples)]));
    ok(!grep({ $_->{in_move} < 10 } @res), 'every client made requests during the move')
        or diag(join(', ', map { $_->{in_move} } @res));
    diag('latency without a migration (3 s): ' . percentiles(@base));
    diag('latency during the migration:      ' . percentiles(@during));
    diag(sprintf('migration 0-511 -> 3: %.2f s wall clock (started_unix %d, finished_unix %d), '
                 . 'migrate.rate 20000 keys/s, %d keys and %d bytes moved by the mover (%.0f keys/s), %d passes',
                 $t_m1 - $t_m0, $final->{started_unix} // 0, $final->{finished_unix} // 0,
                 $final->{keys_moved} // 0, $final->{bytes_moved} // 0,
                 ($final->{keys_moved} // 0) / max($t_m1 - $t_m0, 0.001), $final->{passes} // 0));
}

# --- 4. afterwards, on the backends -------------------------------------------------------

sub after1 { return $_[0] < 512 ? 3 : 2 }
{
    my @g1 = scan_keys($RP[0]);
    my @g3 = scan_keys($RP[2]);
    my @g2 = scan_keys($RP[1]);
    ok(!@g1, 'group 1 holds no key (SCAN)') or diag(few(\@g1));
    my %want3 = map { $_ => 1 } ((grep { $rec{$_}{slot} < 512 } keys %rec), @lists,
                                 (grep { codis_slot($_) < 512 } @counters, map { @$_ } @kv));
    my @extra = grep { !delete $want3{$_} } @g3;
    ok(!@extra && !%want3, sprintf('group 3 holds every key of 0-511 (%d) and nothing else', scalar @g3))
        or diag('extra: ' . few(\@extra) . '; missing: ' . few([ sort keys %want3 ]));
    my %want2 = map { $_ => 1 } ((grep { $rec{$_}{slot} >= 512 } keys %rec),
                                 (grep { codis_slot($_) >= 512 } @counters, map { @$_ } @kv));
    @extra = grep { !delete $want2{$_} } @g2;
    ok(!@extra && !%want2, sprintf('group 2 untouched: its %d keys, no other', scalar @g2))
        or diag('extra: ' . few(\@extra) . '; missing: ' . few([ sort keys %want2 ]));
}
{
    my %acked;
    for my $r (@res) {
        $acked{$_} += $r->{incr}{$_} for keys %{ $r->{incr} // {} };
    }
    my @bad;
    for my $c (@counters) {
        my $v = redis_cmd($RP[ after1(codis_slot($c)) - 1 ], 'GET', $c) // 'nil';
        push @bad, "$c: $v, acknowledged " . ($acked{$c} // 0) if $v ne ($acked{$c} // 0);
    }
    ok(!@bad, sprintf('every counter equals its acknowledged INCRs (%d in all)', sum0(values %acked)))
        or diag(few(\@bad));
}
{
    my $t = time;
    my ($type, $content, $ttl) = compare(\&after1, sort keys %rec);
    ok(!@$type, 'every recorded key there, of its type') or diag(few($type));
    ok(!@$content, 'every recorded key with the same content') or diag(few($content));
    ok(!@$ttl, 'TTLs as recorded, less the time elapsed (within 2 s)') or diag(few($ttl));
    diag(sprintf('compared %d keys in %.1f s', scalar keys %rec, time - $t));
    my @bad;
    for my $k (sort keys %big) {
        my $v = redis_cmd($RP[ after1($rec{$k}{slot}) - 1 ], 'GET', $k);
        push @bad, $k unless defined $v && !ref $v && md5_hex($v) eq $big{$k};
        my $via = redis_cmd($CP, 'GET', $k);
        push @bad, "$k through cordis" unless defined $via && !ref $via && md5_hex($via) eq $big{$k};
    }
    ok(!@bad, 'the big values (1, 3, 6, 10 MB) intact, on the backend and through cordis') or diag("@bad");
    my @kb = grep { (redis_cmd($CP, 'GET', $_) // '') ne $known{$_} } sort keys %known;
    ok(!@kb, 'the known SET values through cordis') or diag(few(\@kb));
}

# --- 6. persistence: a move stopped by SIGQUIT and resumed ----------------------------------

sub after2 { return $_[0] < 768 ? 3 : 2 }
{
    ok(hup(migrate => { rate => 3000 }), 'SIGHUP with migrate.rate = 3000: reload done');
    my @g2 = grep { my $s = codis_slot($_); $s >= 512 && $s <= 767 } scan_keys($RP[1]);
    my $t0 = time;
    my $r = put_migrate('{"slots": "512-767", "to": 3}');
    is($r->{status}, 200, 'PUT 512-767 to group 3: 200') or diag($r->{content});
    # Well into the second step of 64 slots: the first done, the rest not.
    my $k1;
    my $m = poll_migration(sub {
        my $p = $_[0]{progress} // {};
        $k1 //= $_[0]{keys_moved} if ($p->{done} // 0) >= 64;
        return defined $k1 && $_[0]{keys_moved} >= $k1 + 200 && $_[0]{status} eq 'moving'
               && $p->{moving} > 0 && $p->{pending} > 0;
    }, 30);
    my $p = $m->{progress} // {};
    ok(($m->{status} // '') eq 'moving' && ($p->{done} // 0) >= 64 && ($p->{pending} // 0) > 0,
       "caught mid-move: status moving, $p->{done} slots done, $p->{moving} moving, $p->{pending} pending")
        or diag(show($m));
    my $st = stop_cordis($cordis, 'QUIT');
    is($st, 0, 'SIGQUIT during the move: cordis exits 0');
    my $s = state();
    my $mig = $s->{migration} // {};
    ok(($mig->{from} // 0) == 2 && ($mig->{to} // 0) == 3 && ($mig->{slots} // '') eq '512-767' && $mig->{pending}
       && $mig->{moving} && $mig->{done} && ($mig->{keys} // 0) > 0,
       "state file: 512-767 from 2 to 3, pending \"$mig->{pending}\", moving \"$mig->{moving}\", done \"$mig->{done}\"")
        or diag(show($s));
    my $logsize = length read_file($conf->{log});
    $cordis = start_cordis($conf);
    $m = migration() // {};
    ok($m->{active} && ($m->{status} // '') =~ /^(resuming|checking|waiting|moving)/
       && ($m->{progress}{done} // 0) >= 64 && ($m->{keys_moved} // 0) >= ($mig->{keys} // 1),
       "restarted: the migration resumes (status \"$m->{status}\", $m->{progress}{done} done)")
        or diag(show($m));
    like(substr(read_file($conf->{log}), $logsize), qr/migration: slots 512-767 from group 2 to group 3 resume from \Q$state_file\E/,
         'the log says it resumes from the state file');
    $m = poll_migration(sub { $_[0]{status} eq 'done' }, 60);
    ok(($m->{status} // '') eq 'done' && ($m->{progress}{done} // 0) == 256,
       sprintf('it finishes: 256 slots done, %.1f s after the PUT', time - $t0)) or diag(show($m));
    diag(sprintf('migration 512-767 -> 3 at migrate.rate 3000: %d keys, %d bytes by the mover, %.1f s with the restart',
                 $m->{keys_moved} // 0, $m->{bytes_moved} // 0, time - $t0));
    my @left = grep { my $s = codis_slot($_); $s >= 512 && $s <= 767 } scan_keys($RP[1]);
    my @on3 = grep { my $s = codis_slot($_); $s >= 512 && $s <= 767 } scan_keys($RP[2]);
    ok(!@left && @on3 == @g2, sprintf('group 2 holds none of 512-767; group 3 has all %d', scalar @g2))
        or diag(sprintf('%d left on group 2 (%s), %d on group 3', scalar @left, few(\@left), scalar @on3));
    my ($type, $content, $ttl) = compare(\&after2, grep { $rec{$_}{slot} >= 512 && $rec{$_}{slot} <= 767 } sort keys %rec);
    ok(!@$type && !@$content && !@$ttl, 'no key of 512-767 lost: types, content and TTLs as recorded')
        or diag(join("\n", few($type), few($content), few($ttl)));
}

# --- 7. the file behind the moves ------------------------------------------------------------

{
    my $logsize = length read_file($conf->{log});
    ok(hup(migrate => { rate => 3000 }), 'SIGHUP with the file still giving 0-511 to group 1: reload done');
    my $new = substr(read_file($conf->{log}), $logsize);
    # The file gives 0-511 to group 1 and 512-767 to group 2: both are behind.
    like($new, qr/migration: the file still gives slots 0-767 to the groups they moved away from/,
         'the log warns: the file still gives slots 0-767 (0-511 of group 1) to the groups they moved away from');
    my $t = slot_table();
    ok((redis_cmd($CP, 'GET', $known_low) // '') eq $known{$known_low}
       && !grep({ $_->{group} != 3 } @$t[0 .. 767]),
       "routing stays on group 3: GET $known_low answers, slots 0-767 -> 3");
    $logsize = length read_file($conf->{log});
    ok(hup(migrate => { rate => 3000 }, slots => [ [ '0-511', 3 ], [ '512-1023', 2 ] ]),
       'SIGHUP with the file giving 0-511 to group 3: reload done');
    my @mv = @{ state()->{moved} // [] };
    ok(@mv == 1 && ($mv[0]{file_group} // 0) == 2 && ($mv[0]{to} // 0) == 3 && ($mv[0]{slots} // '') eq '512-767',
       'the state file\'s "moved" lost 0-511, keeps 512-767 to group 3 (file_group 2)') or diag(show(\@mv));
    $new = substr(read_file($conf->{log}), $logsize);
    ok($new =~ /migration: the file still gives slots 512-767 to the groups they moved away from/
       && (redis_cmd($CP, 'GET', $known_low) // '') eq $known{$known_low},
       'the warning now names 512-767 alone; the key still answers')
        or diag(join("\n", grep { /migration/ } split /\n/, $new));
}

# --- 8. the source stopped mid-move ------------------------------------------------------------

sub after3 { my ($s) = @_; return $s < 768 ? 3 : $s <= 800 ? 1 : 2 }
{
    ok(hup(migrate => { rate => 300, timeout => '1s' }, slots => [ [ '0-511', 3 ], [ '512-1023', 2 ] ]),
       'SIGHUP with migrate.rate = 300, migrate.timeout = 1s: reload done');
    my @g2 = grep { my $s = codis_slot($_); $s >= 768 && $s <= 800 } scan_keys($RP[1]);
    my $t0 = time;
    my $r = put_migrate('{"slots": "768-800", "to": 1}');
    is($r->{status}, 200, 'PUT 768-800 to group 1: 200') or diag($r->{content});
    my $m = poll_migration(sub { $_[0]{status} eq 'moving' && $_[0]{keys_moved} > 0 }, 20);
    kill 'STOP', $R[1]{pid};
    $stopped_redis = $R[1]{pid};
    my $ts = time;
    diag(sprintf('group 2 (pid %d) SIGSTOPped with %d keys moved of %d', $R[1]{pid}, $m->{keys_moved} // 0, scalar @g2));
    $m = poll_migration(sub { $_[0]{status} =~ /^paused/ }, 30);
    ok(($m->{status} // '') =~ /^paused: ./ && ($m->{last_error} // '') ne '' && $m->{active},
       sprintf('status "%s" after %.1f s, last_error "%s"', $m->{status} // '', time - $ts, $m->{last_error} // ''))
        or diag(show($m));
    sleep 1;
    kill 'CONT', $R[1]{pid};
    $stopped_redis = undef;
    $m = poll_migration(sub { $_[0]{status} eq 'done' }, 30);
    ok(($m->{status} // '') eq 'done' && ($m->{progress}{done} // 0) == 33,
       sprintf('SIGCONT: it resumes and finishes (%.1f s after the PUT)', time - $t0)) or diag(show($m));
    my @left = grep { my $s = codis_slot($_); $s >= 768 && $s <= 800 } scan_keys($RP[1]);
    my @on1 = grep { my $s = codis_slot($_); $s >= 768 && $s <= 800 } scan_keys($RP[0]);
    my ($type, $content, $ttl) = compare(\&after3, grep { $rec{$_}{slot} >= 768 && $rec{$_}{slot} <= 800 } sort keys %rec);
    ok(!@left && @on1 == @g2 && !@$type && !@$content && !@$ttl,
       sprintf('nothing lost: the %d keys of 768-800 on group 1, as recorded; none left on group 2', scalar @g2))
        or diag(join("\n", "left on 2: " . few(\@left), scalar(@on1) . ' on 1', few($type), few($content), few($ttl)));
}

# --- 9. a 50 MB value and migrate.timeout ---------------------------------------------------------

my $huge = key_in_slots('rs:huge', 900, 1023);
my $hslot = codis_slot($huge);
sub after4 { my ($s) = @_; return $s == $hslot ? 3 : after3($s) }
{
    my $v = urandom(50 * 1024 * 1024);
    my $md5 = md5_hex($v);
    is(redis_cmd($RP[1], 'SET', $huge, $v), 'OK', "a 50 MB value in slot $hslot on group 2");
    undef $v;
    ok(hup(migrate => { timeout => '10ms' }, slots => [ [ '0-511', 3 ], [ '512-1023', 2 ] ]),
       'SIGHUP with migrate.timeout = 10ms: reload done');
    my $r = put_migrate(qq({"slots": "$hslot", "to": 3}));
    is($r->{status}, 200, "PUT slot $hslot to group 3: 200") or diag($r->{content});
    # Every worker has the route once the mover is past the barrier.
    my $m = poll_migration(sub { $_[0]{status} =~ /^(moving|paused)/ }, 20);
    my $t = time;
    my $got = redis_cmd($CP, 'GET', $huge);
    ok(ref $got eq 'HASH' && $got->{err} =~ /MIGRATE/,
       sprintf('GET of the 50 MB key through cordis with migrate.timeout 10ms: an error naming MIGRATE (%.2f s)', time - $t))
        or diag(ref $got ? show($got) : 'a ' . length($got // '') . '-byte value');
    diag('the error: ' . ($got->{err} // '')) if ref $got eq 'HASH';
    my $src = redis_cmd($RP[1], 'GET', $huge);
    ok(defined $src && !ref $src && md5_hex($src) eq $md5, 'the key stays whole on the source (group 2)');
    undef $src;
    $m = poll_migration(sub { $_[0]{status} =~ /^paused/ && $_[0]{last_error} ne '' }, 10);
    ok(($m->{status} // '') =~ /^paused/ && ($m->{last_error} // '') ne '',
       'the mover cannot move it either: paused, last_error set') or diag(show($m));
    diag("mover: status \"$m->{status}\", last_error \"$m->{last_error}\", errors $m->{errors}")
        if ref $m eq 'HASH';
    ok(hup(slots => [ [ '0-511', 3 ], [ '512-1023', 2 ] ]), 'SIGHUP with the default migrate.timeout (5s): reload done');
    # cordis.conf(5): migrate.timeout reloads in place, the mover "pauses and
    # tries again until the timeout is raised": nothing touches the key here.
    $t = time;
    $m = poll_migration(sub { $_[0]{status} eq 'done' }, 6);
    ok(($m->{status} // '') eq 'done',
       sprintf('the timeout raised by the reload, the mover moves the 50 MB key by itself (%.1f s)', time - $t))
        or diag(sprintf('after %.1f s: status "%s", last_error "%s", errors %d', time - $t,
                        $m->{status} // '', $m->{last_error} // '', $m->{errors} // 0));
    $t = time;
    $got = redis_cmd($CP, 'GET', $huge);
    ok(defined $got && !ref $got && md5_hex($got) eq $md5,
       sprintf('GET through cordis now moves it and answers the 50 MB whole (%.2f s)', time - $t))
        or diag(ref $got ? show($got) : 'a ' . length($got // '') . '-byte value');
    undef $got;
    $m = poll_migration(sub { $_[0]{status} eq 'done' }, 30);
    my $on3 = redis_cmd($RP[2], 'GET', $huge);
    my $on2 = redis_cmd($RP[1], 'EXISTS', $huge);
    my ($type, $content, $ttl) = compare(\&after4, grep { $rec{$_}{slot} == $hslot } sort keys %rec);
    ok(($m->{status} // '') eq 'done' && defined $on3 && !ref $on3 && md5_hex($on3) eq $md5 && $on2 == 0
       && !@$type && !@$content && !@$ttl,
       "the migration of slot $hslot finishes: the 50 MB key whole on group 3, gone from group 2, the slot's other keys as recorded")
        or diag(join("\n", show($m), "on group 2: $on2", few($type), few($content), few($ttl)));
}

# --- every key where it belongs ---------------------------------------------------------------------

{
    my %where;
    for my $g (1 .. 3) {
        push @{ $where{$_} }, $g for scan_keys($RP[$g - 1]);
    }
    my @bad = map { "$_: on " . join(',', @{ $where{$_} // [] }) . ', expected ' . after4($rec{$_}{slot}) }
              grep { my $w = $where{$_} // []; @$w != 1 || $w->[0] != after4($rec{$_}{slot}) } sort keys %rec;
    my $total = keys %where;
    ok(!@bad && $total == $nkeys + 1,
       "at the end every recorded key on exactly one group, the one its slot says ($total keys in all)")
        or diag(few(\@bad) . "; $total keys, expected " . ($nkeys + 1));
}

stop_cordis($cordis);
log_is_clean_but($cordis, qr/the file still gives slots/, qr/migration: paused/);
stop_redis($_) for @R;
diag(sprintf('runtime %.1f s', time - $t_begin));
