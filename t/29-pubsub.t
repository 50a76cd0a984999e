#!/usr/bin/perl
# Pub/sub through cordis against three real redis-server groups (slots
# 0-340 -> group 1, 341-681 -> group 2, 682-1023 -> group 3) and two
# workers, beside a reference redis-server 7.0 that gets the same commands
# where a reply must be the one a single Redis gives (compared byte for
# byte; where Redis's own order is a hash order, as the channels of an
# UNSUBSCRIBE without arguments, the names are compared as a set and the
# counts in order).
#
#   1. where subscriptions live: a channel on its slot's group (hash tags
#      apply), patterns and __keyevent@0__ channels on every group,
#      __keyspace@0__:key on the key's group; PUBLISH and SPUBLISH go there
#   2. SUBSCRIBE/UNSUBSCRIBE/PSUBSCRIBE/PUNSUBSCRIBE/SSUBSCRIBE/SUNSUBSCRIBE
#      sequences, subscribed-mode errors, PING, RESET, QUIT, as Redis's
#   3. messages, pmessages, smessages; publishing directly on a backend;
#      PUBLISH's receiver count (the channel's group's)
#   4. PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB as Redis's;
#      /api/proxy/stats sessions.pinned.pubsub
#   5. keyspace notifications over three groups
#   6. a subscriber that does not read: closed at session.pubsub_max_output
#      (1mb here), the others keep receiving, RSS bounded
#   7. a group's redis-server killed and restarted: resubscribed, logged
#   8. HUP reload in place while messages flow: none lost
#   9. 10,000 idle subscribers (a second cordis): RSS per subscriber
#  10. load: 100 channels, 10 patterns, 8 subscribers over both workers,
#      100,000 messages from 4 pipelining publishers: each exactly once,
#      in publish order
use strict;
use warnings;

use Compress::Zlib ();
use Data::Dumper ();
use IO::Socket::INET;
use POSIX ();
use Socket qw(PF_INET SOCK_STREAM inet_aton sockaddr_in);
use Test::More;
use Time::HiRes qw(time sleep);

use CordisTest;
use CordisClient;

plan tests => 62;
$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(240);
$SIG{PIPE} = 'IGNORE';
my $t_begin = time;

my $bin = cordis_bin();
my $asan = (`nm $bin 2>/dev/null` =~ /__asan_init/) || (`ldd $bin 2>/dev/null` =~ /libasan/);

# 10,000 subscriber sockets here, as many in cordis: raise the soft limit
# (the hard one too when allowed) before anything is started, so cordis
# inherits it.
my $IDLE_N  = 10_000;
my $fd_need = $IDLE_N + 1000;
sub fd_limit {
    my $l = `sh -c 'ulimit -n'`;
    chomp $l;
    return $l eq 'unlimited' ? 1e9 : ($l || 0) + 0;
}
my $fd_limit = fd_limit();
if ($fd_limit < $fd_need) {
    my $hard = `sh -c 'ulimit -Hn'`;
    chomp $hard;
    my $spec = ($hard eq 'unlimited' || $hard >= $fd_need) ? "$fd_need:" : "$fd_need:$fd_need";
    system('prlimit', "--pid=$$", "--nofile=$spec");
    $fd_limit = fd_limit();
}

my @R   = map { start_redis() } 1 .. 3;     # group g is $R[g - 1]
my $ref = start_redis();                    # one Redis, the reference
my @P   = map { $_->{port} } @R;
my $RP  = $ref->{port};

my @GROUPS = map { [ $_, "127.0.0.1:$P[$_ - 1]" ] } 1 .. 3;
my @SLOTS  = ([ '0-340', 1 ], [ '341-681', 2 ], [ '682-1023', 3 ]);

# cordis A: most sections. A subscriber may hold 1 MB of unsent messages.
my %A_opt = (
    groups  => \@GROUPS,
    slots   => \@SLOTS,
    proxy   => { workers => 2 },
    session => { pubsub_max_output => '1mb' },
);
my $conf = write_conf_in('a', %A_opt);
$A_opt{port}       = $conf->{port};
$A_opt{admin_port} = $conf->{admin_port};
my $cordis = start_cordis($conf);
my $AP = $conf->{port};

# --- helpers ----------------------------------------------------------------------

# The group (1, 2, 3) of a key or channel name in the three-group layout.
sub g3 {
    my $s = codis_slot($_[0]);
    return $s <= 340 ? 1 : $s <= 681 ? 2 : 3;
}

# The n-th name "prefix.i" of group g.
sub name3 {
    my ($prefix, $g, $n) = @_;
    $n //= 0;
    for my $i (0 .. 100000) {
        my $k = "$prefix.$i";
        next unless g3($k) == $g;
        return $k if $n-- == 0;
    }
    die "no name for $prefix in group $g";
}

sub arr { return ref $_[0] eq 'ARRAY' ? $_[0] : [ 'not an array: ' . show($_[0]) ] }
sub min { return $_[0] < $_[1] ? $_[0] : $_[1] }
sub max { return $_[0] > $_[1] ? $_[0] : $_[1] }

# A push as Redis writes it: *3 kind channel count.
sub push3 {
    my ($kind, $ch, $n) = @_;
    return "*3\r\n\$" . length($kind) . "\r\n$kind\r\n"
         . (defined $ch ? '$' . length($ch) . "\r\n$ch\r\n" : "\$-1\r\n") . ":$n\r\n";
}

# --- connections that read with sysread into a buffer of their own ----------------

# Direct connections to the backends (made again after a restart).
my @D;
sub direct { my ($g) = @_; return $D[$g - 1] //= conn($P[$g - 1]) }
sub dcmd   { my ($g, @c) = @_; return cmd(direct($g), @c) }

sub sorted { my ($r) = @_; return ref $r eq 'ARRAY' ? [ sort map { $_ // '(nil)' } @$r ] : $r }

# sessions.pinned.pubsub of a cordis's /api/proxy/stats (undef when absent).
sub pinned_pubsub {
    my ($cf) = @_;
    my $j = admin_get($cf, '/api/proxy/stats')->{json};
    return undef unless ref $j eq 'HASH' && ref $j->{sessions} eq 'HASH'
                        && ref $j->{sessions}{pinned} eq 'HASH';
    return $j->{sessions}{pinned}{pubsub};
}

# VmRSS of a cordis's master and workers, in kB.
sub cordis_rss {
    my ($c) = @_;
    my $t = 0;
    $t += proc_rss_kb($_) // 0 for $c->{pid}, worker_pids($c);
    return $t;
}

sub log_from {
    my ($cf, $off) = @_;
    my $text = read_file($cf->{log});
    return length $text > $off ? substr($text, $off) : '';
}

# --- a publisher in a child process ---------------------------------------------------
#
# One connection to $port; sends the encoded requests (an array ref, or a
# sub returning one) in chunks of $o{chunk} with at most $o{window} replies
# outstanding, sleeping $o{pause} s after each chunk; counts the replies.

my $npub = 0;
sub publisher_start {
    my ($port, $reqs, %o) = @_;
    my $file = tmpdir() . '/publisher-' . ++$npub;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{ALRM} = 'DEFAULT';
        $SIG{__DIE__} = 'DEFAULT';
        alarm(150);
        my %r = (replies => 0, errors => 0, first_error => '', died => '', sent => 0);
        eval {
            $reqs = $reqs->() if ref $reqs eq 'CODE';
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp', Timeout => 5)
                or die "connect: $!\n";
            binmode $s;
            my ($chunk, $window, $pause) = ($o{chunk} // 1000, $o{window} // 5000, $o{pause} // 0);
            my ($n, $buf, $last) = (scalar @$reqs, '', time);
            while ($r{replies} < $n) {
                my $can_send = $r{sent} < $n && $r{sent} - $r{replies} < $window;
                if ($can_send) {
                    my $end = min($r{sent} + $chunk, $n);
                    my $out = join '', @$reqs[ $r{sent} .. $end - 1 ];
                    my $off = 0;
                    while ($off < length $out) {
                        my $w = syswrite($s, $out, length($out) - $off, $off);
                        die "write: $!\n" unless defined $w;
                        $off += $w;
                    }
                    $r{sent} = $end;
                    sleep $pause if $pause;
                }
                my $rin = '';
                vec($rin, fileno $s, 1) = 1;
                my $wait = ($r{sent} < $n && $r{sent} - $r{replies} < $window) ? 0 : 1;
                if (select(my $rout = $rin, undef, undef, $wait) <= 0) {
                    die "no reply for 10 s after $r{replies}\n" if time - $last > 10;
                    next;
                }
                my $got = sysread($s, $buf, 1 << 20, length $buf);
                die "connection closed after $r{replies} replies\n" unless $got;
                $last = time;
                while ($buf =~ /\G([:\-])([^\r\n]*)\r\n/gc) {
                    $r{replies}++;
                    if ($1 eq '-') { $r{errors}++; $r{first_error} ||= $2 }
                }
                $buf = substr($buf, pos($buf) // 0);
            }
        };
        $r{died} = $@ if $@;
        $r{died} =~ s/\n/ /g;
        if (open my $fh, '>', "$file.tmp") {
            print $fh "$_ $r{$_}\n" for sort keys %r;
            close $fh;
            rename "$file.tmp", $file;
        }
        POSIX::_exit(0);
    }
    return { pid => $pid, file => $file, n => (ref $reqs eq 'ARRAY' ? scalar @$reqs : $o{n}) };
}

sub publisher_running {
    my ($p) = @_;
    return 0 if $p->{done};
    my $got = waitpid($p->{pid}, POSIX::WNOHANG());
    $p->{done} = 1 if $got == $p->{pid} || $got == -1;
    return !$p->{done};
}

# Waits for a publisher (at most $t s); its counts, as a hash.
sub publisher_wait {
    my ($p, $t) = @_;
    my $end = time + ($t // 30);
    sleep 0.02 while publisher_running($p) && time < $end;
    if (publisher_running($p)) {
        kill 'KILL', $p->{pid};
        waitpid($p->{pid}, 0);
        $p->{done} = 1;
    }
    my %r = map { /^(\w+) ?(.*)$/ ? ($1, $2) : () } split /\n/, read_file($p->{file});
    $r{died} = 'no report' unless %r;
    return \%r;
}

sub publisher_ok {
    my ($p, $r) = @_;
    return ($r->{replies} // 0) == $p->{n} && !$r->{errors} && !$r->{died};
}

sub publisher_show {
    my ($r) = @_;
    return join ', ', map { "$_=" . ($r->{$_} // '') } qw(sent replies errors first_error died);
}

# --- subscribers whose messages carry "index:seq" -----------------------------------
#
# A subscriber state: its socket, the channel name prefix ("load." for
# payloads "i:seq" on "load.i"), and the keys it must see, each with the
# last seq: "m CHANNEL" for messages, "p PATTERN CHANNEL" for pmessages. Each
# key's seqs must come as 0, 1, 2, ... (or from $o{first}).

sub sub_state {
    my ($s, %o) = @_;
    return { s => $s, prefix => $o{prefix}, first => $o{first} // 0, want => $o{want} // {},
             last => {}, n => 0, bad => [], nbad => 0, other => [], closed => 0, ignore => $o{ignore} };
}

sub on_frame {
    my ($st, $v) = @_;
    my ($key, $ch, $payload);
    if (ref $v eq 'ARRAY' && @$v == 3 && ($v->[0] // '') eq 'message') {
        ($ch, $payload) = @$v[ 1, 2 ];
        $key = "m $ch";
    } elsif (ref $v eq 'ARRAY' && @$v == 4 && ($v->[0] // '') eq 'pmessage') {
        ($ch, $payload) = @$v[ 2, 3 ];
        $key = "p $v->[1] $ch";
    }
    if (defined $payload && $st->{ignore} && $payload =~ $st->{ignore}) {
        $st->{ignored}{$key}{$payload}++;
        return;
    }
    if (!defined $key || !defined $payload || $payload !~ /^(\d+):(\d+)(?::|\z)/) {
        push @{ $st->{other} }, show($v) if @{ $st->{other} } < 5;
        $st->{nother}++;
        return;
    }
    my ($i, $seq) = ($1, $2);
    $st->{n}++;
    my $want = exists $st->{last}{$key} ? $st->{last}{$key} + 1 : $st->{first};
    if ($ch ne "$st->{prefix}$i" || !exists $st->{want}{$key} || $seq != $want) {
        $st->{nbad}++;
        push @{ $st->{bad} }, "$key: payload $payload, expected seq $want" . (exists $st->{want}{$key} ? '' : ' (key not expected)')
            if @{ $st->{bad} } < 5;
    }
    $st->{last}{$key} = $seq if $seq >= $want;
}

# Reads the subscribers until $cond->() is true (checked after each round
# of reads, and at least every 50 ms) or $t s pass; true when $cond was met.
sub collect {
    my ($states, $cond, $t) = @_;
    my $end = time + $t;
    my %by_fd = map { fileno($_->{s}) => $_ } grep { !$_->{closed} } @$states;
    while (1) {
        return 1 if $cond->();
        return 0 if time >= $end;
        my $rin = '';
        vec($rin, $_, 1) = 1 for keys %by_fd;
        my $n = select(my $rout = $rin, undef, undef, 0.05);
        next if $n <= 0;
        for my $fd (keys %by_fd) {
            next unless vec($rout, $fd, 1);
            my $st = $by_fd{$fd};
            my $b = rbuf($st->{s});
            my $got = sysread($st->{s}, $$b, 1 << 18, length $$b);
            if (!$got) {
                next if !defined $got && ($!{EINTR} || $!{EAGAIN});
                $st->{closed} = 1;
                delete $by_fd{$fd};
                next;
            }
            my $pos = 0;
            while ((my $e = reply_end($b, $pos)) >= 0) {
                my ($v) = parse1($b, $pos);
                on_frame($st, $v);
                $pos = $e;
            }
            substr($$b, 0, $pos, '');
        }
    }
}

# True when every expected key of the state reached seq $last.
sub complete {
    my ($st, $last) = @_;
    for my $k (keys %{ $st->{want} }) {
        return 0 unless ($st->{last}{$k} // -1) >= $last;
    }
    return 1;
}

# What is wrong with a state that should have every key up to $last:
# '' when nothing.
sub problems {
    my ($st, $last, $name) = @_;
    my @p;
    my @missing = grep { ($st->{last}{$_} // -1) < $last } sort keys %{ $st->{want} };
    push @p, scalar(@missing) . ' keys short of seq ' . $last . ' (' . join(', ', map { "$_ at " . ($st->{last}{$_} // 'none') } @missing[0 .. min(2, $#missing)]) . ')' if @missing;
    push @p, "$st->{nbad} out of order, duplicated or unexpected: " . join('; ', @{ $st->{bad} }) if $st->{nbad};
    push @p, ($st->{nother} // 0) . ' other frames: ' . join('; ', @{ $st->{other} }) if $st->{nother};
    push @p, 'closed by cordis' if $st->{closed};
    return @p ? "$name: " . join(' / ', @p) : '';
}

# ================================================================================
# 1. Where subscriptions live
# ================================================================================

my @rt = map { name3('rt', $_) } 1 .. 3;
{
    # A channel with a hash tag whose whole name would hash to another group.
    my ($tagged, $tag_g);
    for my $i (0 .. 10000) {
        my $n = "rt.{t$i}.x";
        my $whole = Compress::Zlib::crc32($n) % 1024;
        my $wg = $whole <= 340 ? 1 : $whole <= 681 ? 2 : 3;
        next if $wg == g3("t$i");
        ($tagged, $tag_g) = ($n, g3("t$i"));
        last;
    }
    my $s = conn($AP);
    put($s, [ 'SUBSCRIBE', @rt[ 2, 0, 1 ], $tagged ]);
    rds($s, 4);
    my %want = map { $_ => [] } 1 .. 3;
    push @{ $want{ g3($_) } }, $_ for @rt, $tagged;
    my $want = show([ map { [ sort @{ $want{$_} } ] } 1 .. 3 ]);
    my $got;
    ok(wait_for(sub { $got = show([ map { sorted(dcmd($_, 'PUBSUB', 'CHANNELS', 'rt.*')) } 1 .. 3 ]); $got eq $want }, 3),
       "SUBSCRIBE: each channel on its slot's group only, a hash tag's group for $tagged (group $tag_g)")
        or diag("backends' PUBSUB CHANNELS rt.*: $got\nwanted: $want");

    put($s, [ 'PSUBSCRIBE', 'rt.p*' ]);
    rds($s, 1);
    ok(wait_for(sub { $got = show([ map { dcmd($_, 'PUBSUB', 'NUMPAT') } 1 .. 3 ]); $got eq show([ 1, 1, 1 ]) }, 3),
       'PSUBSCRIBE: the pattern on every group') or diag("backends' NUMPAT: $got");

    # __keyspace@0__:KEY on KEY's group (not on the group of the channel's
    # own name); __keyevent@0__:* channels on every group.
    my $k;
    for my $i (0 .. 10000) {
        $k = "ksp.$i";
        last if g3($k) == 3 && g3("__keyspace\@0__:$k") != 3;
    }
    put($s, [ 'SUBSCRIBE', "__keyspace\@0__:$k", '__keyevent@0__:expired' ]);
    rds($s, 2);
    $want = show([ [ '__keyevent@0__:expired' ], [ '__keyevent@0__:expired' ],
                   [ '__keyevent@0__:expired', "__keyspace\@0__:$k" ] ]);
    ok(wait_for(sub { $got = show([ map { sorted(dcmd($_, 'PUBSUB', 'CHANNELS', '__key*')) } 1 .. 3 ]); $got eq $want }, 3),
       "__keyspace\@0__:$k on the key's group (3), __keyevent\@0__:expired on every group")
        or diag("backends' PUBSUB CHANNELS __key*: $got\nwanted: $want");

    disc($s);
    ok(wait_for(sub { $got = show([ map { [ arr(dcmd($_, 'PUBSUB', 'CHANNELS')), dcmd($_, 'PUBSUB', 'NUMPAT') ] } 1 .. 3 ]);
                      $got eq show([ [ [], 0 ], [ [], 0 ], [ [], 0 ] ]) }, 3),
       'the subscriber closed: no channel and no pattern left on any backend')
        or diag("backends' [CHANNELS, NUMPAT]: $got");
}

# PUBLISH and SPUBLISH go to the channel's group: a subscriber connected
# directly to that backend gets the message, and the count says 1.
{
    my @ds = map { conn($P[$_ - 1]) } 1 .. 3;
    my @sh = map { name3('rts', $_) } 1 .. 3;
    cmd($ds[ $_ - 1 ], 'SUBSCRIBE', $rt[ $_ - 1 ]) for 1 .. 3;
    cmd($ds[ $_ - 1 ], 'SSUBSCRIBE', $sh[ $_ - 1 ]) for 1 .. 3;
    my $p = conn($AP);
    my (@got, @want, @sgot, @swant);
    for my $g (1 .. 3) {
        push @got, [ cmd($p, 'PUBLISH', $rt[ $g - 1 ], "to-$g"), rd($ds[ $g - 1 ], 2) ];
        push @want, [ 1, [ 'message', $rt[ $g - 1 ], "to-$g" ] ];
        push @sgot, [ cmd($p, 'SPUBLISH', $sh[ $g - 1 ], "sto-$g"), rd($ds[ $g - 1 ], 2) ];
        push @swant, [ 1, [ 'smessage', $sh[ $g - 1 ], "sto-$g" ] ];
    }
    is(show(\@got), show(\@want), 'PUBLISH through cordis: to the channel\'s group (1 receiver there, the message arrives)');
    is(show(\@sgot), show(\@swant), 'SPUBLISH through cordis: to the shard channel\'s group');
    disc($_) for @ds, $p;
}

# ================================================================================
# 2. Sequences against the reference
# ================================================================================

my @c  = map { name3('sq', $_) } 1 .. 3;     # a channel of each group
my $c4 = name3('sq', 1, 1);
my @sh = map { name3('sqs', $_) } 1 .. 3;    # shard channels
my $s4 = name3('sqs', 2, 1);
my $nokey = 'sq:nokey';

# Canonical form of unsubscribe replies whose order is a hash order:
# kinds and counts in order, channel names as a set.
sub canon {
    my ($raw) = @_;
    my (@kinds, @names, @counts);
    for my $v (decode_all($raw)) {
        if (ref $v eq 'ARRAY') {
            push @kinds, $v->[0] // '(nil)';
            push @names, $v->[1] // '(nil)';
            push @counts, $v->[2] // '(nil)';
        } else {
            push @kinds, show($v);
        }
    }
    return show([ \@kinds, [ sort @names ], \@counts ]);
}

# Steps on a fresh connection to cordis and one to the reference: [n, cmd...]
# reads n replies ("n~": compared by canon), [n, [cmd], [cmd], ...] sends the
# commands in one write, ['EOF'] expects both to close. Then nothing else
# may arrive.
sub vs_ref {
    my ($name, @steps) = @_;
    my ($c, $r) = (conn($AP), conn($RP));
    my $bad;
    for my $st (@steps) {
        my ($n, @rest) = @$st;
        if ($n eq 'EOF') {
            my ($ec, $er) = (wait_closed($c, 2), wait_closed($r, 2));
            $bad = "at the end: cordis " . ($ec ? 'closed' : 'still open') . ', redis ' . ($er ? 'closed' : 'still open')
                unless $ec == $er;
            last;
        }
        my @cmds = ref $rest[0] ? @rest : ([@rest]);
        my $label = join ' ; ', map { join ' ', @$_ } @cmds;
        my $canon = $n =~ s/~$//;
        put($c, @cmds);
        put($r, @cmds);
        my ($gc, $sc) = read_raw($c, $n, 2);
        my ($gr, $sr) = read_raw($r, $n, 2);
        my ($x, $y) = $canon ? (canon($gc), canon($gr)) : ($gc, $gr);
        $x .= "<$sc>" if $sc ne 'ok';
        $y .= "<$sr>" if $sr ne 'ok';
        if ($x ne $y) {
            $bad = "step '$label':\n  cordis: " . esc($x) . "\n  redis:  " . esc($y);
            last;
        }
    }
    if (!$bad) {
        my ($x, $y) = (pending($c, 0.1), pending($r, 0.01));
        $bad = "after the last step:\n  cordis: " . esc($x) . "\n  redis:  " . esc($y) if $x ne $y;
    }
    ok(!$bad, $name) or diag($bad);
    disc($c);
    disc($r);
}

vs_ref('SUBSCRIBE over three groups: confirmations in argument order, counts as one Redis (duplicates, PSUBSCRIBE, unknown names too)',
       [ 3, 'SUBSCRIBE', @c[ 2, 0, 1 ] ],
       [ 1, 'SUBSCRIBE', $c[0] ],
       [ 3, 'SUBSCRIBE', $c[1], $c4, $c[1] ],
       [ 2, 'PSUBSCRIBE', 'sq.1*', 'sq.2*' ],
       [ 1, 'PSUBSCRIBE', 'sq.1*' ],
       [ 1, 'SUBSCRIBE', $c4 ],
       [ 1, 'UNSUBSCRIBE', $c[0] ],
       [ 2, 'UNSUBSCRIBE', $c[0], 'sq.none' ],
       [ 1, 'PUNSUBSCRIBE', 'sq.2*' ],
       [ 1, 'PUNSUBSCRIBE', 'sq.none*' ],
       [ 2, 'subscribe', $c[2], $c[0] ]);

vs_ref('SSUBSCRIBE over three groups: counts shard channels; SUNSUBSCRIBE; subscribed mode while any subscription is left',
       [ 1, 'SUBSCRIBE', $c[0] ],
       [ 3, 'SSUBSCRIBE', @sh[ 2, 0, 1 ] ],
       [ 1, 'SSUBSCRIBE', $sh[0] ],
       [ 1, 'PSUBSCRIBE', 'sq.*' ],
       [ 2, 'SSUBSCRIBE', $s4, $s4 ],
       [ 2, 'SUNSUBSCRIBE', $sh[0], 'sqs.none' ],
       [ 1, 'PING' ],
       [ 1, 'UNSUBSCRIBE', $c[0] ],
       [ 1, 'GET', $nokey ],
       [ '3~', 'SUNSUBSCRIBE' ],
       [ 1, 'PING', 'still' ],
       [ 1, 'PUNSUBSCRIBE' ],
       [ 1, 'PING' ],
       [ 1, 'GET', $nokey ],
       [ 1, 'SSUBSCRIBE', $sh[1] ],
       [ 1, 'GET', $nokey ],
       [ 1, 'SUNSUBSCRIBE', $sh[1] ],
       [ 1, 'GET', $nokey ]);

vs_ref("subscribed mode: other commands get Redis 7.0's error (keyed, local, fan-out, pinned, PUBSUB), PING and PING x",
       [ 1, 'SUBSCRIBE', $c[1] ],
       [ 1, 'GET', $nokey ],
       [ 1, 'SET', $nokey, 'v' ],
       [ 1, 'PUBLISH', $c[1], 'm' ],
       [ 1, 'ECHO', 'hi' ],
       [ 1, 'SELECT', '1' ],
       [ 1, 'CLIENT', 'ID' ],
       [ 1, 'INFO' ],
       [ 1, 'DBSIZE' ],
       [ 1, 'MULTI' ],
       [ 1, 'PUBSUB', 'NUMSUB', $c[1] ],
       [ 1, 'SET', $nokey ],
       [ 1, 'PING' ],
       [ 1, 'PING', 'x y' ],
       [ 1, 'ping', '' ],
       [ 1, 'GET', $nokey ]);

vs_ref('UNSUBSCRIBE and PUNSUBSCRIBE without arguments: every subscription, counts as Redis, then normal mode',
       [ 3, 'SUBSCRIBE', @c ],
       [ 2, 'PSUBSCRIBE', 'sq.a*', 'sq.b*' ],
       [ '3~', 'UNSUBSCRIBE' ],
       [ 1, 'PING' ],
       [ 1, 'GET', $nokey ],
       [ '2~', 'PUNSUBSCRIBE' ],
       [ 1, 'PING' ],
       [ 1, 'GET', $nokey ]);

vs_ref('(P|S)UNSUBSCRIBE with nothing subscribed: a nil channel and the count; normal mode',
       [ 1, 'UNSUBSCRIBE' ],
       [ 1, 'PUNSUBSCRIBE' ],
       [ 1, 'SUNSUBSCRIBE' ],
       [ 2, 'UNSUBSCRIBE', @c[ 0, 1 ] ],
       [ 1, 'PING' ],
       [ 1, 'GET', $nokey ],
       [ 1, 'SUBSCRIBE', $c[0] ],
       [ 1, 'PUNSUBSCRIBE' ],
       [ 1, 'SUNSUBSCRIBE' ],
       [ 1, 'UNSUBSCRIBE' ],
       [ 1, 'UNSUBSCRIBE' ],
       [ 1, 'PING' ]);

vs_ref('RESET leaves subscribed mode (+RESET); the connection then works normally',
       [ 2, 'SUBSCRIBE', @c[ 0, 2 ] ],
       [ 1, 'PSUBSCRIBE', 'sq.*' ],
       [ 1, 'SSUBSCRIBE', $sh[1] ],
       [ 1, 'RESET' ],
       [ 1, 'PING' ],
       [ 1, 'SET', $nokey, 'v' ],
       [ 1, 'GET', $nokey ],
       [ 1, 'DEL', $nokey ],
       [ 1, 'UNSUBSCRIBE' ],
       [ 1, 'PUNSUBSCRIBE' ]);

vs_ref('after the last unsubscribe the client is back in normal mode (each kind)',
       [ 1, 'SUBSCRIBE', $c[1] ],
       [ 1, 'UNSUBSCRIBE', $c[1] ],
       [ 1, 'PING' ],
       [ 1, 'SET', $nokey, 'v' ],
       [ 1, 'GET', $nokey ],
       [ 1, 'DEL', $nokey ],
       [ 1, 'PSUBSCRIBE', 'x*' ],
       [ 1, 'PUNSUBSCRIBE', 'x*' ],
       [ 1, 'PING' ],
       [ 1, 'SSUBSCRIBE', $sh[2] ],
       [ 1, 'SUNSUBSCRIBE', $sh[2] ],
       [ 1, 'PING' ],
       [ 1, 'ECHO', 'hi' ]);

vs_ref('QUIT in subscribed mode: +OK and the connection closes',
       [ 2, 'SUBSCRIBE', @c[ 0, 1 ] ],
       [ 1, 'QUIT' ],
       [ 'EOF' ]);

vs_ref('pipelined in one write: subscribe, a refused GET, PING, PSUBSCRIBE, UNSUBSCRIBE, PING x',
       [ 8, [ 'subscribe', @c[ 0, 1 ] ], [ 'GET', $nokey ], ['PING'], [ 'PSUBSCRIBE', 'p*' ],
            [ 'UNSUBSCRIBE', @c[ 1, 0 ] ], [ 'PING', 'z' ] ],
       [ 3, [ 'PUNSUBSCRIBE' ], [ 'PING' ], [ 'GET', $nokey ] ]);

# After RESET nothing more reaches the connection, and the backend drops
# the subscription.
{
    my $s = conn($AP);
    put($s, [ 'SUBSCRIBE', $c[2] ], [ 'PSUBSCRIBE', 'sq.*' ]);
    rds($s, 2);
    my $reset = cmd($s, 'RESET');
    my $p = conn($AP);
    my $count;
    my $dropped = wait_for(sub { $count = cmd($p, 'PUBLISH', $c[2], 'after-reset'); defined $count && !ref $count && $count eq '0' }, 3);
    my $more = pending($s, 0.3);
    my $pong = cmd($s, 'PING');
    ok($reset eq 'RESET' && $dropped && $more eq '' && $pong eq 'PONG',
       'after RESET: PUBLISH counts 0 receivers, no message reaches the connection, PING is +PONG')
        or diag('RESET: ' . show($reset) . ', last PUBLISH count ' . show($count) . ', arrived: ' . esc($more) . ', PING: ' . show($pong));
    disc($_) for $s, $p;
}

# ================================================================================
# 3. Messages
# ================================================================================

# message then pmessage, byte for byte; a binary payload; PUBLISH right
# after the confirmations must be delivered.
{
    my $ch = name3('msg', 2);
    my $payload = "bin\r\n\0\xff payload";
    my @out;
    for my $port ($AP, $RP) {
        my ($s, $p) = (conn($port), conn($port));
        put($s, [ 'SUBSCRIBE', $ch ], [ 'PSUBSCRIBE', 'msg.*' ]);
        my @o = (read_raw($s, 2))[0];
        put($p, [ 'PUBLISH', $ch, $payload ]);
        push @o, (read_raw($p, 1))[0], (read_raw($s, 2))[0], pending($s, 0.2);
        push @out, esc(join ' | ', @o);
        disc($_) for $s, $p;
    }
    is($out[0], $out[1], 'confirmations, PUBLISH (:2), message then pmessage: byte for byte as Redis (binary payload)');
}

# smessage, byte for byte.
{
    my $ch = name3('smsg', 3);
    my @out;
    for my $port ($AP, $RP) {
        my ($s, $p) = (conn($port), conn($port));
        my @o = (cmd($s, 'SSUBSCRIBE', $ch));
        put($p, [ 'SPUBLISH', $ch, "sm\0x" ]);
        push @o, (read_raw($p, 1))[0], (read_raw($s, 1))[0], pending($s, 0.2);
        push @out, esc(join ' | ', map { ref $_ ? show($_) : $_ } @o);
        disc($_) for $s, $p;
    }
    is($out[0], $out[1], 'SSUBSCRIBE, SPUBLISH (:1), smessage: as Redis');
}

# Two patterns matching: the message first, then a pmessage per pattern (in
# Redis's own hash order: compared as a set).
{
    my $ch = name3('pm', 1);
    my @out;
    for my $port ($AP, $RP) {
        my ($s, $p) = (conn($port), conn($port));
        put($s, [ 'SUBSCRIBE', $ch ], [ 'PSUBSCRIBE', 'pm.*', 'p?.*', 'nomatch*' ]);
        rds($s, 4);
        my $n = cmd($p, 'PUBLISH', $ch, 'two-patterns');
        my ($first, @rest) = rds($s, 3);
        push @out, show([ $n, $first, [ sort map { show($_) } @rest ], pending($s, 0.2) ]);
        disc($_) for $s, $p;
    }
    is($out[0], $out[1], 'a channel and two matching patterns: PUBLISH :3, message, then both pmessages, once each');
}

# Published directly on the owning backend: reaches the subscribers of cordis.
{
    my @dm = map { name3('dm', $_) } 1 .. 3;
    my $s = conn($AP);
    put($s, [ 'SUBSCRIBE', @dm ], [ 'PSUBSCRIBE', 'dm.*' ]);
    rds($s, 4);
    my (@got, @want);
    for my $g (1 .. 3) {
        my $n = dcmd($g, 'PUBLISH', $dm[ $g - 1 ], "direct-$g");
        push @got, [ !ref $n && $n =~ /^\d+$/ && $n > 0 ? 'counted' : 'count ' . show($n), rds($s, 2, 2) ];
        push @want, [ 'counted', [ 'message', $dm[ $g - 1 ], "direct-$g" ],
                      [ 'pmessage', 'dm.*', $dm[ $g - 1 ], "direct-$g" ] ];
    }
    push @got, pending($s, 0.2);
    push @want, '';
    is(show(\@got), show(\@want), 'PUBLISH directly on each group\'s backend: message and pmessage through cordis, once');
    disc($s);
}

# PUBLISH returns the receiver count of the channel's group: what PUBLISH
# on that backend says. Subscribers on both workers and a pattern subscriber.
{
    my $ch = name3('cnt', 3);
    my ($r0, $r1) = conns_per_worker($AP, 1);
    my @subs = (@$r0, @$r1);
    cmd($_, 'SUBSCRIBE', $ch) for @subs;
    my $ps = conn($AP);
    cmd($ps, 'PSUBSCRIBE', 'cnt.*');
    my $p = conn($AP);
    my $via = cmd($p, 'PUBLISH', $ch, 'via-cordis');
    my $dir = dcmd(3, 'PUBLISH', $ch, 'direct');
    is(show($via), show($dir), "PUBLISH through cordis counts as PUBLISH on the channel's backend ($via; "
       . (@subs + 1) . ' clients of cordis receive, on ' . (@$r1 ? 'both workers' : 'ONE worker') . ')');
    my @got = map { [ rds($_, 2, 2), pending($_, 0.1) ] } @subs, $ps;
    my @want = ((map { [ [ 'message', $ch, 'via-cordis' ], [ 'message', $ch, 'direct' ], '' ] } @subs),
                [ [ 'pmessage', 'cnt.*', $ch, 'via-cordis' ], [ 'pmessage', 'cnt.*', $ch, 'direct' ], '' ]);
    is(show(\@got), show(\@want), 'each subscriber (both workers) and the pattern subscriber: both messages, once, in order');
    disc($_) for @subs, $ps, $p;
}

# ================================================================================
# 4. PUBSUB introspection and the admin stats
# ================================================================================
{
    my @pa  = map { name3('ps', $_) } 1 .. 3;
    my @psh = (name3('pss', 1), name3('pss', 3));
    my ($X, $Y, $RX, $RY) = (conn($AP), conn($AP), conn($RP), conn($RP));
    for my $s ($X, $RX) {
        put($s, [ 'SUBSCRIBE', @pa ], [ 'PSUBSCRIBE', 'ps.*', 'ps.?x' ]);
        rds($s, 5);
    }
    for my $s ($Y, $RY) {
        put($s, [ 'SSUBSCRIBE', @psh ]);
        rds($s, 2);
    }
    my ($q, $rq) = (conn($AP), conn($RP));
    my $both = sub { return (cmd($q, @_), cmd($rq, @_)) };
    my $raw_both = sub {
        put($q, [@_]);
        put($rq, [@_]);
        return (esc((read_raw($q, 1))[0]), esc((read_raw($rq, 1))[0]));
    };
    my ($g, $w);

    ($g, $w) = $both->('PUBSUB', 'CHANNELS', 'ps.*');
    is(show(sorted($g)), show(sorted($w)), 'PUBSUB CHANNELS ps.*: the channels of three groups, as Redis (as a set)');
    # Without a pattern: once the subscribers of earlier checks are gone.
    ok(wait_for(sub { ($g, $w) = $both->('PUBSUB', 'CHANNELS'); show(sorted($g)) eq show(sorted($w)) }, 3),
       'PUBSUB CHANNELS: as Redis (as a set)') or diag('cordis: ' . show(sorted($g)) . "\nredis:  " . show(sorted($w)));
    ($g, $w) = $raw_both->('PUBSUB', 'NUMSUB', $pa[1], 'ps.none', @pa[ 0, 2 ], $psh[0]);
    is($g, $w, 'PUBSUB NUMSUB over three groups: in argument order, byte for byte as Redis');
    ok(wait_for(sub { ($g, $w) = $raw_both->('PUBSUB', 'NUMPAT'); $g eq $w }, 3), 'PUBSUB NUMPAT: as Redis (patterns on every group counted once)')
        or diag("cordis: $g\nredis:  $w");
    ($g, $w) = $both->('PUBSUB', 'SHARDCHANNELS');
    my ($g2, $w2) = $both->('PUBSUB', 'SHARDCHANNELS', 'pss.*');
    is(show([ sorted($g), sorted($g2) ]), show([ sorted($w), sorted($w2) ]), 'PUBSUB SHARDCHANNELS, with and without a pattern: as Redis');
    ($g, $w) = $raw_both->('PUBSUB', 'SHARDNUMSUB', $psh[1], $pa[0], $psh[0]);
    is($g, $w, 'PUBSUB SHARDNUMSUB: in argument order, byte for byte as Redis');

    my $pn;
    ok(wait_for(sub { $pn = pinned_pubsub($conf); defined $pn && $pn == 2 }, 3),
       '/api/proxy/stats sessions.pinned.pubsub counts the 2 subscribed clients') or diag('sessions.pinned.pubsub: ' . show($pn));
    my $un = cmd($Y, 'SUNSUBSCRIBE', $psh[0]) ;
    my $un2 = cmd($Y, 'SUNSUBSCRIBE', $psh[1]);
    cmd($RY, 'SUNSUBSCRIBE', $_) for @psh;
    ok(wait_for(sub { $pn = pinned_pubsub($conf); defined $pn && $pn == 1 }, 3),
       'after the last SUNSUBSCRIBE: sessions.pinned.pubsub 1') or diag('sessions.pinned.pubsub: ' . show($pn) . ', replies ' . show([ $un, $un2 ]));
    my $rs = cmd($X, 'RESET');
    cmd($RX, 'RESET');
    ok(wait_for(sub { $pn = pinned_pubsub($conf); defined $pn && $pn == 0 }, 3),
       'after RESET: sessions.pinned.pubsub 0') or diag('sessions.pinned.pubsub: ' . show($pn) . ', RESET: ' . show($rs));
    ok(wait_for(sub {
        my @cc = $both->('PUBSUB', 'CHANNELS', 'ps*');
        my @np = $both->('PUBSUB', 'NUMPAT');
        my @sc = $both->('PUBSUB', 'SHARDCHANNELS');
        ($g, $w) = map { show([ sorted($cc[$_]), $np[$_], sorted($sc[$_]) ]) } 0, 1;
        $g eq $w }, 3), 'after unsubscribing: PUBSUB CHANNELS, NUMPAT, SHARDCHANNELS as Redis (nothing)')
        or diag("cordis/redis: $g / $w");
    disc($_) for $X, $Y, $RX, $RY, $q, $rq;
}

# ================================================================================
# 5. Keyspace notifications
# ================================================================================
{
    my $cs = conn($AP);
    my $set = cmd($cs, 'CONFIG', 'SET', 'notify-keyspace-events', 'KEA');
    redis_cmd($RP, 'CONFIG', 'SET', 'notify-keyspace-events', 'KEA');
    my $refv = redis_cmd($RP, 'CONFIG', 'GET', 'notify-keyspace-events');
    my @vals = map { dcmd($_, 'CONFIG', 'GET', 'notify-keyspace-events') } 1 .. 3;
    is(show([ $set, @vals ]), show([ 'OK', ($refv) x 3 ]), 'CONFIG SET notify-keyspace-events KEA through cordis: +OK, set on every backend');
    redis_cmd($RP, 'CONFIG', 'SET', 'notify-keyspace-events', '');

    my @K = map { name3('ks', $_) } 1 .. 3;
    my $sub = conn($AP);
    put($sub, [ 'SUBSCRIBE', map { "__keyspace\@0__:$_" } @K ], [ 'PSUBSCRIBE', '__keyevent@0__:*' ]);
    my ($conf_raw) = read_raw($sub, 4);
    my $conf_want = join '', (map { push3('subscribe', "__keyspace\@0__:$K[$_]", $_ + 1) } 0 .. 2),
                             push3('psubscribe', '__keyevent@0__:*', 4);
    my @sets = map { cmd($cs, 'SET', $_, 'v') } @K;
    my @got = rds($sub, 6, 3);
    my @want = map { ([ 'message', "__keyspace\@0__:$_", 'set' ], [ 'pmessage', '__keyevent@0__:*', '__keyevent@0__:set', $_ ]) } @K;
    is(show([ esc($conf_raw), [ sort map { show($_) } @got ], pending($sub, 0.2) ]),
       show([ esc($conf_want), [ sort map { show($_) } @want ], '' ]),
       'SET of a key in each group: the __keyspace message and the __keyevent pmessage of each, once (confirmations 1..4)');

    # __keyevent@0__:del as a channel: subscribed on every group, one
    # confirmation; a DEL over three groups gives one message per key.
    my $ev = conn($AP);
    my $evc = cmd($ev, 'SUBSCRIBE', '__keyevent@0__:del');
    my $del = cmd($cs, 'DEL', @K);
    my @evm = rds($ev, 3, 3);
    my @subm = rds($sub, 6, 3);
    my @subw = map { ([ 'message', "__keyspace\@0__:$_", 'del' ], [ 'pmessage', '__keyevent@0__:*', '__keyevent@0__:del', $_ ]) } @K;
    is(show([ $evc, $del, [ sort map { show($_) } @evm ], [ sort map { show($_) } @subm ], pending($ev, 0.2), pending($sub, 0.01) ]),
       show([ [ 'subscribe', '__keyevent@0__:del', 1 ], 3, [ sort map { show([ 'message', '__keyevent@0__:del', $_ ]) } @K ],
              [ sort map { show($_) } @subw ], '', '' ]),
       'SUBSCRIBE __keyevent@0__:del (every group): one confirmation; DEL over three groups: one message per key, once');

    my $chans = cmd($cs, 'PUBSUB', 'CHANNELS', '__keyevent*');
    my $numsub = cmd($cs, 'PUBSUB', 'NUMSUB', '__keyevent@0__:del');
    is(show([ $chans, $numsub ]), show([ ['__keyevent@0__:del'], [ '__keyevent@0__:del', 1 ] ]),
       'PUBSUB CHANNELS __keyevent*: the every-group channel once; NUMSUB 1, as one Redis');
    cmd($cs, 'CONFIG', 'SET', 'notify-keyspace-events', '');
    disc($_) for $cs, $sub, $ev;
}

# ================================================================================
# 6. A subscriber that does not read
# ================================================================================
{
    my $ch = name3('slow', 2);
    my ($r0, $r1) = conns_per_worker($AP, 2);
    my $slow = $r0->[0] // conn($AP);
    my $fast_same = $r0->[1] // conn($AP);
    my $fast_other = $r1->[0] // conn($AP);
    disc($r1->[1]);
    cmd($_, 'SUBSCRIBE', $ch) for $slow, $fast_same, $fast_other;
    my ($idx) = $ch =~ /^slow\.(\d+)$/;
    my @fast = map { sub_state($_, prefix => 'slow.', want => { "m $ch" => 1 }) } $fast_same, $fast_other;
    my $log_off = length read_file($conf->{log});
    my $rss0 = cordis_rss($cordis);
    my $peak = $rss0;
    my ($N, $W) = (5000, 20);
    my $pad = 'x' x 10240;
    my ($pub_bad, $stall) = ('', '');
    my %got;    # per fast state: how many of its messages so far
    my $t0 = time;
    for (my $i = 0; $i < $N; $i += $W) {
        my $end = min($i + $W, $N);
        put(direct(2), map { [ 'PUBLISH', $ch, "$idx:$_:$pad" ] } $i .. $end - 1);
        my @r = rds(direct(2), $end - $i, 5);
        $pub_bad ||= "PUBLISH replies: " . show([ @r[0 .. min(2, $#r)] ]) if grep { ref $_ || $_ !~ /^\d+$/ } @r;
        # the fast ones catch up before the next window (at most 200 KB behind)
        my $ok = collect(\@fast, sub { !grep { !$_->{closed} && $_->{n} + ($_->{nother} // 0) < $end } @fast }, 5);
        $stall ||= "fast subscribers stalled at message $end: " . join(', ', map { $_->{n} } @fast) unless $ok;
        $peak = max($peak, cordis_rss($cordis)) if ($i / $W) % 5 == 0;
        last if $stall || $pub_bad;
    }
    my $secs = time - $t0;
    $peak = max($peak, cordis_rss($cordis));
    my @p = grep { length } map { problems($fast[$_], $N - 1, $_ ? 'subscriber on the other worker' : 'subscriber on the slow one\'s worker') } 0 .. 1;
    ok(!@p && !$stall && !$pub_bad,
       sprintf('50 MB published to a channel (%.1f s): the subscribers that read got all %d messages in order, on both workers', $secs, $N))
        or diag(join "\n", grep { length } @p, $stall, $pub_bad);
    my $closed = wait_closed($slow, 10);
    ok($closed, 'the subscriber that never read is closed by cordis');
    my $line;
    ok(wait_for(sub { ($line) = grep { /pubsub_max_output/ } split /\n/, log_from($conf, $log_off); $line }, 3),
       'a log line names session.pubsub_max_output') or diag("log since:\n" . join("\n", (split /\n/, log_from($conf, $log_off))[0 .. 9]));
    note("log: $line") if $line;
    diag(sprintf('slow subscriber: cordis RSS (master + workers) %d kB before, peak %d kB (+%d kB) while 50 MB went to a channel '
                 . 'with a subscriber that does not read (pubsub_max_output 1mb)', $rss0, $peak, $peak - $rss0));
    SKIP: {
        skip 'RSS figures mean nothing under AddressSanitizer: the release build asserts them', 1 if $asan;
        cmp_ok($peak - $rss0, '<', 1024 + 15 * 1024, 'cordis RSS grows by less than the 1 MB limit plus 15 MB');
    }
    my $pc = conn($AP);
    my $n = cmd($pc, 'PUBLISH', $ch, 'still-there');
    disc($pc);
    my @after = map { [ take_all($_->{s}, 2) ] } @fast;
    is(show(\@after), show([ ([ [ 'message', $ch, 'still-there' ] ]) x 2 ]),
       'after the slow one is closed the others still receive (PUBLISH through cordis)') or diag('PUBLISH: ' . show($n));
    disc($_) for $slow, $fast_same, $fast_other;
}

# ================================================================================
# 7. A backend restarted while subscribed
# ================================================================================
{
    my $rch = name3('rs', 2);
    my $och = name3('rs', 1);
    my ($r0, $r1) = conns_per_worker($AP, 1);
    my $s1 = $r0->[0] // conn($AP);
    my $s2 = $r1->[0] // conn($AP);
    my $s3 = conn($AP);
    put($s1, [ 'SUBSCRIBE', $rch, $och ]);
    rds($s1, 2);
    cmd($s2, 'SUBSCRIBE', $rch);
    cmd($s3, 'PSUBSCRIBE', 'rs.*');
    my @subs = ($s1, $s2, $s3);
    my $pub = conn($AP);
    cmd($pub, 'PUBLISH', $rch, 'before');
    my @before = map { rd($_, 2) } @subs;
    my $log_off = length read_file($conf->{log});

    my $t_kill = time;
    stop_redis($R[1], 'KILL');
    disc($D[1]);
    $D[1] = undef;
    sleep 0.3;
    my $during = cmd($pub, 'PUBLISH', $och, 'during');
    my @dur = (rd($s1, 2), rd($s3, 2));
    sleep 1;    # cordis has retried by now
    my $open = !grep { pending($_, 0.01) =~ /<closed>/ } @subs;
    is(show([ \@before, \@dur, $open ]),
       show([ [ [ 'message', $rch, 'before' ], [ 'message', $rch, 'before' ], [ 'pmessage', 'rs.*', $rch, 'before' ] ],
              [ [ 'message', $och, 'during' ], [ 'pmessage', 'rs.*', $och, 'during' ] ], 1 ]),
       'group 2 killed: subscribers stay connected, group 1\'s messages still arrive') or diag('PUBLISH during: ' . show($during));

    my $t_start = time;    # the backend cannot answer before this
    $R[1] = start_redis(port => $P[1]);
    my $t_up = time;
    my ($probe, %first, %probes) = (0);
    while (time - $t_up < 8 && keys %first < 3) {
        dcmd(2, 'PUBLISH', $rch, 'probe-' . $probe++);
        for my $i (0 .. 2) {
            for my $m (take_all($subs[$i], 0.1)) {
                my $pl = ref $m eq 'ARRAY' ? $m->[-1] : show($m);
                $probes{$i}{$pl}++;
                $first{$i} //= time - $t_up if $pl =~ /^probe-/;
            }
        }
    }
    my $dt = max(map { $first{$_} // 99 } 0 .. 2);
    ok(keys %first == 3 && $dt <= 3.5, sprintf('after the restart every subscriber gets messages again within %.2f s (3.5 s allowed)', $dt))
        or diag('first probe seen after: ' . show(\%first));

    my @st = (sub_state($s1, prefix => 'rs.', want => { "m $rch" => 1 }, ignore => qr/^probe-/),
              sub_state($s2, prefix => 'rs.', want => { "m $rch" => 1 }, ignore => qr/^probe-/),
              sub_state($s3, prefix => 'rs.', want => { "p rs.* $rch" => 1 }, ignore => qr/^probe-/));
    # payload "i:seq" with channel "rs.i": the group-2 channel is rs.<i>
    my ($idx) = $rch =~ /^rs\.(\d+)$/;
    put($pub, map { [ 'PUBLISH', $rch, "$idx:$_" ] } 0 .. 99);
    my @pr = rds($pub, 100, 5);
    collect(\@st, sub { !grep { !complete($_, 99) } @st }, 5);
    collect(\@st, sub { 0 }, 0.2);
    my $dups = join ', ', map { my $i = $_; map { "$i:$_" } grep { $probes{$i}{$_} > 1 } keys %{ $probes{$i} } } 0 .. 2;
    for my $i (0 .. 2) {
        for my $k (keys %{ $st[$i]{ignored} // {} }) {
            $dups .= " $i:$_" for grep { $st[$i]{ignored}{$k}{$_} + ($probes{$i}{$_} // 0) > 1 } keys %{ $st[$i]{ignored}{$k} };
        }
    }
    my @p = grep { length } map { problems($st[$_], 99, "subscriber $_") } 0 .. 2;
    ok(!@p && !$dups && !grep({ ref $_ || $_ !~ /^\d+$/ } @pr),
       '100 messages published through cordis after the restart: each subscriber gets all, once, in order (probes once each)')
        or diag(join "\n", @p, "duplicated probes: $dups", 'PUBLISH replies: ' . show([ @pr[0 .. 2] ]));

    my @warn;
    ok(wait_for(sub { @warn = grep { /\[warn\]/ && /subscri|pub\/?sub/i } split /\n/, log_from($conf, $log_off); @warn }, 3),
       'cordis logs a warning about the subscriptions\' gap') or diag("log since the kill:\n" . join("\n", (split /\n/, log_from($conf, $log_off))[0 .. 9]));
    note("log: $_") for @warn[0 .. min(2, $#warn)];

    # The gap, as logged: one warning per worker (both had subscriptions on
    # group 2) telling its length ("after N ms"), written once the backend is
    # back, telling at least the outage.
    my @gap;
    for my $l (split /\n/, log_from($conf, $log_off)) {
        next unless $l =~ /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)\.(\d+) \[warn\] (\d+) .*127\.0\.0\.1:$P[1]\b.*\bafter (\d+) ms\b/;
        push @gap, { t => POSIX::mktime($6, $5, $4, $3, $2 - 1, $1 - 1900) + $7 / 1000, pid => $8, ms => $9, line => $l };
    }
    my $outage = ($t_start - $t_kill) * 1000;
    my %per_pid;
    $per_pid{ $_->{pid} }++ for @gap;
    my @early = grep { $_->{t} < $t_start - 0.01 } @gap;
    my @short = grep { $_->{ms} < $outage - 50 } @gap;
    ok(@gap && !@early && !@short && keys %per_pid == 2 && !grep({ $_ != 1 } values %per_pid),
       sprintf('the gap is logged once per worker, after group 2 is back, with its length (outage %.0f ms)', $outage))
        or diag(sprintf("%d warnings telling a gap (\"after N ms\") for group 2 (%d before the backend was restarted, %d telling less than the outage):\n",
                        scalar @gap, scalar @early, scalar @short) . join("\n", map { $_->{line} } @gap[0 .. min(5, $#gap)]));
    disc($_) for @subs, $pub;
}

# ================================================================================
# 8. HUP reload in place while messages flow
# ================================================================================
{
    my @hc = map { "hup.$_" } 0 .. 9;
    my ($r0, $r1) = conns_per_worker($AP, 1);
    my $h0 = $r0->[0] // conn($AP);
    my $h1 = $r1->[0] // conn($AP);
    my $hp = conn($AP);
    put($_, [ 'SUBSCRIBE', @hc ]) for $h0, $h1;
    rds($_, 10) for $h0, $h1;
    cmd($hp, 'PSUBSCRIBE', 'hup.*');
    my %wm = map { ("m $_" => 1) } @hc;
    my %wp = map { ("p hup.* $_" => 1) } @hc;
    my @st = (sub_state($h0, prefix => 'hup.', want => \%wm), sub_state($h1, prefix => 'hup.', want => \%wm),
              sub_state($hp, prefix => 'hup.', want => \%wp));
    my ($N1, $N2) = (1500, 500);    # seqs per channel: during, after
    my $p1 = publisher_start($AP, sub { [ map { my $q = $_; map { resp_encode('PUBLISH', "hup.$_", "$_:$q") } 0 .. 9 } 0 .. $N1 - 1 ] },
                             n => 10 * $N1, chunk => 150, pause => 0.02);
    collect(\@st, sub { 0 }, 0.5);
    write_conf_in('a', %A_opt, session => { %{ $A_opt{session} }, pubsub_max_output => '2mb' });
    my $during = publisher_running($p1);
    kill 'HUP', $cordis->{pid};
    my $m;
    my $t_next = 0;
    collect(\@st, sub {
        return 0 if time < $t_next;
        $t_next = time + 0.1;
        $m = admin_get($conf, '/api/proxy/model')->{json};
        return ($m->{reload}{ok} // 0) >= 1 || ($m->{reload}{failed} // 0) >= 1;
    }, 10);
    ok(($m->{reload}{ok} // 0) == 1 && ($m->{reload}{last} // '') =~ /^ok: applied in place/,
       'HUP (pubsub_max_output 1mb -> 2mb) applied in place' . ($during ? ' while the publisher ran' : ' (the publisher had ALREADY finished)'))
        or diag('model.reload: ' . show($m->{reload}));
    collect(\@st, sub { !publisher_running($p1) }, 30);
    my $pr1 = publisher_wait($p1, 5);
    my $p2 = publisher_start($AP, sub { [ map { my $q = $_; map { resp_encode('PUBLISH', "hup.$_", "$_:$q") } 0 .. 9 } $N1 .. $N1 + $N2 - 1 ] },
                             n => 10 * $N2, chunk => 500);
    my $last = $N1 + $N2 - 1;
    collect(\@st, sub { !grep { !complete($_, $last) } @st }, 20);
    my $pr2 = publisher_wait($p2, 5);
    collect(\@st, sub { 0 }, 0.2);
    ok(publisher_ok($p1, $pr1) && publisher_ok($p2, $pr2), 'both publishers: every PUBLISH answered with a count')
        or diag('during: ' . publisher_show($pr1) . "\nafter:  " . publisher_show($pr2));
    my @p = grep { length } map { problems($st[$_], $last, ('subscriber on one worker', 'subscriber on the other', 'pattern subscriber')[$_]) } 0 .. 2;
    ok(!@p, "messages published during and after the reload: all ${\ (10 * ($N1 + $N2))} to each subscriber, once, in order")
        or diag(join "\n", @p);
    my @pong = map { cmd($_, 'PING') } $h0, $h1, $hp;
    is(show(\@pong), show([ ([ 'pong', '' ]) x 3 ]), 'after the reload the subscribers are still in subscribed mode');
    disc($_) for $h0, $h1, $hp;
}

# ================================================================================
# 9. 10,000 idle subscribers (cordis B)
# ================================================================================

my $confb = write_conf_in('b',
    groups  => \@GROUPS,
    slots   => \@SLOTS,
    proxy   => { workers => 2, max_clients => 20000 },
    session => { max_pinned => 20000 },
);
my $cordisb = start_cordis($confb);
my $BP = $confb->{port};

SKIP: {
    skip "file descriptor limit $fd_limit is too low for $IDLE_N subscribers (needs $fd_need; prlimit could not raise it)", 5
        if $fd_limit < $fd_need;
    my $obs = conn($BP);
    cmd($obs, 'PING');
    sleep 0.3;
    my $base = cordis_rss($cordisb);
    my $t0 = time;
    my (@socks, @bad);
    my $okconf = 0;
    # In batches: connect, SUBSCRIBE each, read each confirmation. Plain
    # blocking connect(): IO::Socket's connect timeout selects on a bitmap
    # as large as the highest fd, which is slow with 10,000 open.
    my $addr = sockaddr_in($BP, inet_aton('127.0.0.1'));
    for (my $i = 0; $i < $IDLE_N && @bad < 5; $i += 500) {
        my @batch;
        for my $j ($i .. min($i + 500, $IDLE_N) - 1) {
            my $s;
            if (!socket($s, PF_INET, SOCK_STREAM, 0) || !connect($s, $addr)) { push @bad, "connect $j: $!"; last }
            binmode $s;
            push @batch, [ $s, $j ];
        }
        syswrite($_->[0], resp_encode('SUBSCRIBE', 'idle.' . ($_->[1] % 100))) for @batch;
        for (@batch) {
            my ($s, $j) = @$_;
            my $want = push3('subscribe', 'idle.' . ($j % 100), 1);
            my $got = sysread_n($s, length $want, 5);
            if ($got eq $want) { $okconf++ } elsif (@bad < 5) { push @bad, "subscriber $j: " . esc($got) }
        }
        push @socks, @batch;
    }
    my $open_secs = time - $t0;
    is($okconf, $IDLE_N, sprintf('%d connections SUBSCRIBEd (one of 100 channels each), each confirmed (%.1f s)', $IDLE_N, $open_secs))
        or diag(join "\n", @bad);
    my $with = cordis_rss($cordisb);
    my $per = ($with - $base) * 1024 / $IDLE_N;
    diag(sprintf('idle subscribers: cordis RSS (master + workers) %d kB before, %d kB with %d subscribers: %.0f bytes per subscriber',
                 $base, $with, $IDLE_N, $per));
    my $pn;
    ok(wait_for(sub { $pn = pinned_pubsub($confb); defined $pn && $pn == $IDLE_N }, 5),
       "/api/proxy/stats sessions.pinned.pubsub: $IDLE_N") or diag('sessions.pinned.pubsub: ' . show($pn));
    SKIP: {
        skip 'RSS figures mean nothing under AddressSanitizer: the release build asserts them', 1 if $asan;
        cmp_ok($per, '<', 16384, sprintf('RSS per idle subscriber < 16 KB (%.0f bytes)', $per));
    }
    # One message per channel: each subscriber gets its own, once.
    put($obs, map { [ 'PUBLISH', "idle.$_", "hello-$_" ] } 0 .. 99);
    rds($obs, 100, 10);
    my ($recv, @miss) = (0);
    for (@socks) {
        my ($s, $j) = @$_;
        my $ch = 'idle.' . ($j % 100);
        my $want = "*3\r\n\$7\r\nmessage\r\n\$" . length($ch) . "\r\n$ch\r\n\$" . length("hello-" . ($j % 100)) . "\r\nhello-" . ($j % 100) . "\r\n";
        my $got = sysread_n($s, length $want, 3);
        if ($got eq $want) { $recv++ } elsif (@miss < 3) { push @miss, "subscriber $j: " . esc($got) }
    }
    is($recv, $IDLE_N, "a PUBLISH to each of the 100 channels reaches each of the $IDLE_N subscribers") or diag(join "\n", @miss);
    close $_->[0] for @socks;
    @socks = ();
    my $left;
    ok(wait_for(sub { $pn = pinned_pubsub($confb);
                      $left = show([ map { scalar @{ arr(dcmd($_, 'PUBSUB', 'CHANNELS', 'idle.*')) } } 1 .. 3 ]);
                      defined $pn && $pn == 0 && $left eq show([ 0, 0, 0 ]) }, 20),
       'all closed: sessions.pinned.pubsub 0, no idle.* channel left on the backends')
        or diag('pinned.pubsub ' . show($pn) . ', idle.* channels per backend ' . $left);
    disc($obs);
}

# Reads exactly $n bytes from a plain socket (less on timeout or close).
sub sysread_n {
    my ($s, $n, $t) = @_;
    my $buf = '';
    my $end = time + $t;
    while (length $buf < $n) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        my $left = $end - time;
        last if $left <= 0 || select(my $rout = $rin, undef, undef, $left) <= 0;
        my $got = sysread($s, $buf, $n - length $buf, length $buf);
        last unless $got;
    }
    return $buf;
}

# ================================================================================
# 10. Load: 100 channels, 10 patterns, 8 subscribers, 100,000 messages
# ================================================================================
{
    my @lc = map { "load.$_" } 0 .. 99;
    my %per_group;
    $per_group{ g3($_) }++ for @lc;
    note('load channels per group: ' . join(', ', map { "$_: " . ($per_group{$_} // 0) } 1 .. 3));
    my ($r0, $r1) = conns_per_worker($BP, 4);
    ok(@$r0 == 4 && @$r1 == 4, 'load: 4 subscribers on each worker') or diag(scalar(@$r0) . ' and ' . scalar(@$r1));
    my @subs = (@$r0, @$r1);
    my $SEQ = 1000;    # messages per channel
    my @st;
    for my $k (0 .. $#subs) {
        my @mine = grep { $_ % 4 == $k % 4 } 0 .. 99;
        my @pats = ($k % 10, ($k + 5) % 10);
        my %want = map { ("m load.$_" => 1) } @mine;
        for my $d (@pats) {
            $want{"p load.*$d load.$_"} = 1 for grep { $_ % 10 == $d } 0 .. 99;
        }
        put($subs[$k], [ 'SUBSCRIBE', map { "load.$_" } @mine ], [ 'PSUBSCRIBE', map { "load.*$_" } @pats ]);
        my @conf = rds($subs[$k], @mine + 2, 5);
        diag("load subscriber $k: last confirmation " . show($conf[-1])) unless show($conf[-1]) eq show([ 'psubscribe', "load.*$pats[1]", @mine + 2 ]);
        push @st, sub_state($subs[$k], prefix => 'load.', want => \%want);
    }
    my $t0 = time;
    my @pubs = map {
        my $p = $_;
        publisher_start($BP, sub {
            my @mine = grep { $_ % 4 == $p } 0 .. 99;
            return [ map { my $q = $_; map { resp_encode('PUBLISH', "load.$_", "$_:$q") } @mine } 0 .. $SEQ - 1 ];
        }, n => 25 * $SEQ, chunk => 1000, window => 5000);
    } 0 .. 3;
    my $done = collect(\@st, sub { !grep { !complete($_, $SEQ - 1) } @st }, 60);
    my $secs = time - $t0;
    my @pr = map { publisher_wait($_, 5) } @pubs;
    collect(\@st, sub { 0 }, 0.3);
    my $total = 0;
    $total += $_->{n} for @st;
    diag(sprintf('load: %d messages published through cordis by 4 pipelining publishers, %d delivered to 8 subscribers in %.1f s (%.0f deliveries/s)',
                 100 * $SEQ, $total, $secs, $total / ($secs || 1)));
    ok(!grep({ !publisher_ok($pubs[$_], $pr[$_]) } 0 .. 3), 'load: every PUBLISH of the 4 publishers answered with a count')
        or diag(join "\n", map { "publisher $_: " . publisher_show($pr[$_]) } 0 .. 3);
    my (@pm, @pp);
    for my $k (0 .. $#st) {
        my $s = $st[$k];
        my @m = grep { /^m / && ($s->{last}{$_} // -1) != $SEQ - 1 } keys %{ $s->{want} };
        my @p = grep { /^p / && ($s->{last}{$_} // -1) != $SEQ - 1 } keys %{ $s->{want} };
        my @bm = grep { /^m / } @{ $s->{bad} };
        my @bp = grep { /^p / } @{ $s->{bad} };
        push @pm, "subscriber $k: " . scalar(@m) . " channels incomplete (@m[0 .. min(2, $#m)]) @bm" if @m || @bm;
        push @pp, "subscriber $k: " . scalar(@p) . " pattern/channel pairs incomplete @bp" if @p || @bp;
    }
    ok(!@pm, 'load: every subscriber got every message of its 25 channels exactly once, each channel in publish order')
        or diag(join "\n", @pm);
    ok(!@pp, 'load: every subscriber got every pmessage of its 2 patterns exactly once, in publish order')
        or diag(join "\n", @pp);
    my @other = map { $st[$_]{nbad} || $st[$_]{nother} || $st[$_]{closed} ? problems($st[$_], $SEQ - 1, "subscriber $_") : () } 0 .. $#st;
    ok(!@other && $done, 'load: nothing unexpected, no subscriber closed, all done within 60 s') or diag(join "\n", @other);
    disc($_) for @subs;
}

# ================================================================================
# The end
# ================================================================================
disc($_) for grep { $_ } @D;
stop_cordis($cordis);
stop_cordis($cordisb);
log_is_clean_but($cordis, qr/subscri|pub\/?sub/i);
log_is_clean($cordisb);
stop_redis($_) for @R, $ref;
diag(sprintf('runtime %.1f s', time - $t_begin));
