#!/usr/bin/perl
# Keys land on the group Codis's slot function names, multi-key commands
# split and coalesce correctly, unserved slots are refused, and
# redis-benchmark runs clean through cordis.
use strict;
use warnings;

use Test::More;

use CordisTest;

my $r1 = start_redis();
my $r2 = start_redis();
my @ports = ($r1->{port}, $r2->{port});

my $conf = write_conf(
    groups => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$r2->{port}" ] ],
    slots  => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
);
my $cordis = start_cordis($conf);
my $cs = resp_connect($conf->{port});
my @direct = map { resp_connect($_) } @ports;

sub group_of { codis_slot($_[0]) < 512 ? 0 : 1 }     # index into @ports/@direct

sub flush_backends { resp_cmd($_, 'FLUSHALL') for @direct }

# Pipelines commands on one socket and reads all the replies.
sub pipeline {
    my ($s, @cmds) = @_;
    my $out = '';
    for my $c (@cmds) {
        $out .= '*' . scalar(@$c) . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @$c);
    }
    print $s $out;
    return [ map { resp_read($s) } @cmds ];
}

# --- the slot function ----------------------------------------------------------

is(codis_slot('foo'), 289, 'slot(foo) = 289');
is(codis_slot('a'), 579, 'slot(a) = 579');
is(codis_slot('b'), 1017, 'slot(b) = 1017');
is(codis_slot('c'), 879, 'slot(c) = 879');
is(codis_slot('{user1}:a'), codis_slot('{user1}:b'), '{user1}:a and {user1}:b share a slot');
is(codis_slot('{user1}:a'), codis_slot('user1'), '... the slot of user1');

# Known vectors go where their slot says.
for my $k (qw(foo a b c {user1}:a {user1}:b)) {
    is(resp_cmd($cs, 'SET', $k, "v-$k"), 'OK', "SET $k");
    my $g = group_of($k);
    is(resp_cmd($direct[$g], 'GET', $k), "v-$k", "$k is on group " . ($g + 1));
    is(resp_cmd($direct[1 - $g], 'EXISTS', $k), 0, "$k is not on group " . (2 - $g));
}

# --- 200 random keys and hashtags ---------------------------------------------

{
    srand(20240601);
    my @keys;
    for my $i (1 .. 200) {
        my $kind = $i % 4;
        my $rand = join '', map { chr(33 + int(rand(94))) } 1 .. 1 + int(rand(20));
        push @keys,
            $kind == 0 ? "k:$i:$rand"
          : $kind == 1 ? "{tag" . int(rand(50)) . "}:$i"
          : $kind == 2 ? "pre{$rand}post:$i"
          :              "$rand$i";
    }
    # Keys right at the group boundary.
    my %edge;
    for my $i (0 .. 50000) {
        my $s = codis_slot("edge$i");
        $edge{$s} //= "edge$i" if $s == 0 || $s == 511 || $s == 512 || $s == 1023;
        last if keys %edge == 4;
    }
    is(scalar(keys %edge), 4, 'found keys in slots 0, 511, 512 and 1023');
    push @keys, values %edge;
    my %uniq;
    @keys = grep { !$uniq{$_}++ } @keys;

    my $set = pipeline($cs, map { [ 'SET', $_, "value of $_" ] } @keys);
    is(scalar(grep { defined $_ && $_ eq 'OK' } @$set), scalar(@keys), 'SET of ' . scalar(@keys) . ' keys: all OK');
    my (@wrong, @leaked);
    for my $k (@keys) {
        my $g = group_of($k);
        my $v = resp_cmd($direct[$g], 'GET', $k);
        push @wrong, $k unless defined $v && $v eq "value of $k";
        push @leaked, $k if resp_cmd($direct[1 - $g], 'EXISTS', $k);
    }
    is_deeply(\@wrong, [], 'every key is on the group of its slot') or diag "slots: @{[map { codis_slot($_) } @wrong[0..($#wrong < 9 ? $#wrong : 9)]]}";
    is_deeply(\@leaked, [], 'no key is on the other group');
    is(resp_cmd($direct[0], 'DBSIZE') + resp_cmd($direct[1], 'DBSIZE'), scalar(@keys) + 6,
       'the backends hold exactly these keys');

    # And cordis reads them back.
    my $got = pipeline($cs, map { [ 'GET', $_ ] } @keys);
    is_deeply($got, [ map { "value of $_" } @keys ], 'GET through cordis returns every value');

    # Keys with the same hashtag are on the same backend.
    my %tag_group;
    my $mixed = 0;
    for my $k (grep { /^\{tag\d+\}/ } @keys) {
        my ($t) = $k =~ /^\{(tag\d+)\}/;
        my $g = resp_cmd($direct[0], 'EXISTS', $k) ? 0 : 1;
        $mixed++ if defined $tag_group{$t} && $tag_group{$t} != $g;
        $tag_group{$t} = $g;
    }
    is($mixed, 0, 'one hashtag, one backend');
}

# --- MGET ---------------------------------------------------------------------

{
    flush_backends();
    my @keys = map { "mget:$_" } 1 .. 100;
    my %groups;
    $groups{ group_of($_) }++ for @keys;
    ok($groups{0} && $groups{1}, "MGET keys span both groups ($groups{0}/$groups{1})");
    my %present = map { $keys[$_] => 1 } grep { $_ % 3 != 0 } 0 .. $#keys;
    pipeline($cs, map { [ 'SET', $_, "v:$_" ] } grep { $present{$_} } @keys);
    my $got = resp_cmd($cs, 'MGET', @keys);
    is_deeply($got, [ map { $present{$_} ? "v:$_" : undef } @keys ], 'MGET of 100 keys: values in order, nil in place');

    # Duplicates and reversed order.
    my @mixed = (reverse(@keys[0 .. 9]), $keys[1], $keys[1], 'mget:none', $keys[2]);
    is_deeply(resp_cmd($cs, 'MGET', @mixed), [ map { $present{$_} ? "v:$_" : undef } @mixed ],
              'MGET with duplicates and missing keys');

    # All keys in one group: forwarded whole.
    my @one = grep { group_of($_) == 1 } @keys;
    is_deeply(resp_cmd($cs, 'MGET', @one), [ map { $present{$_} ? "v:$_" : undef } @one ],
              'MGET with every key in group 2');
    is_deeply(resp_cmd($cs, 'MGET', $keys[1]), [ "v:$keys[1]" ], 'MGET of one key');

    # A key of another type: nil, as Redis does.
    resp_cmd($cs, 'LPUSH', 'mget:list', 'x');
    is_deeply(resp_cmd($cs, 'MGET', $keys[1], 'mget:list', $keys[2]), [ "v:$keys[1]", undef, "v:$keys[2]" ],
              'MGET over a list key: nil for it');

    # Many MGETs pipelined: each reply is its own.
    my @cmds = map { my $i = $_; [ 'MGET', map { $keys[($i + $_ * 7) % 100] } 0 .. 9 ] } 0 .. 199;
    my $replies = pipeline($cs, @cmds);
    my $bad = grep {
        my $c = $cmds[$_];
        !eq_array($replies->[$_], [ map { $present{$_} ? "v:$_" : undef } @$c[ 1 .. $#$c ] ])
    } 0 .. $#cmds;
    is($bad, 0, '200 pipelined MGETs over both groups: every reply right');
}

# --- MSET ---------------------------------------------------------------------

{
    flush_backends();
    my @keys = map { "mset:$_" } 1 .. 100;
    is(resp_cmd($cs, 'MSET', map { ($_, "val:$_") } @keys), 'OK', 'MSET of 100 keys');
    for my $g (0, 1) {
        my $have = resp_cmd($direct[$g], 'KEYS', '*');
        is_deeply([ sort @$have ], [ sort grep { group_of($_) == $g } @keys ],
                  'group ' . ($g + 1) . ' holds exactly its keys');
        my @mine = grep { group_of($_) == $g } @keys;
        is_deeply(resp_cmd($direct[$g], 'MGET', @mine), [ map { "val:$_" } @mine ],
                  'group ' . ($g + 1) . ': values kept with their keys');
    }
    # Later pairs win, as in Redis.
    is(resp_cmd($cs, 'MSET', $keys[0], 'one', $keys[1], 'x', $keys[0], 'two'), 'OK', 'MSET with a repeated key');
    is(resp_cmd($cs, 'GET', $keys[0]), 'two', 'the last value of a repeated key wins');
    is_deeply(resp_cmd($cs, 'MSET', $keys[0], 'v', $keys[1]),
              { err => "ERR wrong number of arguments for 'mset' command" }, 'MSET with an odd count');
    is_deeply(resp_cmd($cs, 'MSET', 'a', 'x', 'foo'),
              { err => "ERR wrong number of arguments for 'mset' command" }, 'MSET across groups with an odd count');
    is(resp_cmd($cs, 'GET', 'a'), undef, 'nothing written by a bad MSET');

    # --- DEL / EXISTS / TOUCH / UNLINK: sums ---------------------------------
    my @missing = map { "mset:none:$_" } 1 .. 10;
    is(resp_cmd($cs, 'EXISTS', @keys, @missing), 100, 'EXISTS over both groups: 100');
    is(resp_cmd($cs, 'EXISTS', $keys[0], $keys[0], $keys[1], $missing[0]), 3, 'EXISTS counts repeated keys');
    is(resp_cmd($cs, 'TOUCH', @keys[0 .. 49], @missing), 50, 'TOUCH: 50');
    my @del = grep { $_ % 2 } 0 .. 99;
    is(resp_cmd($cs, 'DEL', (map { $keys[$_] } @del), @missing), scalar(@del), 'DEL across groups: sum');
    is(resp_cmd($cs, 'EXISTS', @keys), 100 - @del, 'EXISTS after DEL');
    is(resp_cmd($cs, 'DEL', map { $keys[$_] } @del), 0, 'DEL again: 0');
    is(resp_cmd($cs, 'UNLINK', @keys, @missing), 100 - @del, 'UNLINK the rest: sum');
    is(resp_cmd($direct[0], 'DBSIZE') + resp_cmd($direct[1], 'DBSIZE'), 0, 'backends empty');
    is(resp_cmd($cs, 'EXISTS', @keys), 0, 'EXISTS: 0');
    is(resp_cmd($cs, 'DEL', 'foo', 'a'), 0, 'DEL of missing keys in two groups: 0');
}

# --- redis-benchmark ------------------------------------------------------------

{
    flush_backends();
    my $out = `redis-benchmark -p $conf->{port} -t get,set,mset -r 100000 -P 16 -n 50000 -q 2>&1`;
    is($? >> 8, 0, 'redis-benchmark exits 0');
    unlike($out, qr/error|ERR|WARN|closed/i, 'redis-benchmark prints no error') or diag $out;
    like($out, qr/MSET \(10 keys\): [\d.]+ requests per second/, 'redis-benchmark ran MSET');

    # Direct count: of the 100000 keys the benchmark can write, count those
    # present on the backend their slot names, and check none is elsewhere.
    my $total = resp_cmd($direct[0], 'DBSIZE') + resp_cmd($direct[1], 'DBSIZE');
    my @by = ([], []);
    push @{ $by[ group_of($_) ] }, $_ for map { sprintf 'key:%012d', $_ } 0 .. 99999;
    my ($right, $wrong) = (0, 0);
    for my $g (0, 1) {
        my @chunks;
        push @chunks, [ splice @{ $by[$g] }, 0, 1000 ] while @{ $by[$g] };
        for my $c (@chunks) {
            $right += resp_cmd($direct[$g], 'EXISTS', @$c);
            $wrong += resp_cmd($direct[1 - $g], 'EXISTS', @$c);
        }
    }
    ok($total > 90000, "the benchmark left most of its 100000 keys ($total)");
    is($right, $total, 'every key on a backend is a benchmark key on the group of its slot');
    is($wrong, 0, 'no benchmark key on the wrong group');
    my @sample = map { sprintf 'key:%012d', $_ * 997 } 0 .. 99;
    is_deeply(pipeline($cs, map { [ 'GET', $_ ] } @sample),
              [ map { resp_cmd($direct[ group_of($_) ], 'GET', $_) } @sample ],
              'benchmark values read back through cordis as the backends hold them');
}

close $cs;
stop_cordis($cordis);
log_is_clean($cordis);

# --- a slot with no group ---------------------------------------------------------

{
    my $half = write_conf(
        name   => 'half.conf',
        groups => [ [ 1, "127.0.0.1:$r1->{port}" ] ],
        slots  => [ [ '0-511', 1 ] ],
    );
    my $c = start_cordis($half);
    my $s = resp_connect($half->{port});
    is(resp_cmd($s, 'SET', 'foo', 'served'), 'OK', 'a key in slot 289 is served');
    is(resp_cmd($s, 'GET', 'foo'), 'served', 'GET foo');
    is_deeply(resp_cmd($s, 'GET', 'a'), { err => 'ERR slot 579 is not served' }, 'GET a: slot 579 is not served');
    is_deeply(resp_cmd($s, 'SET', 'b', 1), { err => 'ERR slot 1017 is not served' }, 'SET b: slot 1017 is not served');
    is_deeply(resp_cmd($s, 'MGET', 'foo', 'c'), { err => 'ERR slot 879 is not served' }, 'MGET over an unserved slot');
    is_deeply(resp_cmd($s, 'MSET', 'foo', 1, 'b', 2), { err => 'ERR slot 1017 is not served' }, 'MSET over an unserved slot');
    is(resp_cmd($s, 'GET', 'foo'), 'served', 'MSET refused as a whole: foo unchanged');
    is_deeply(resp_cmd($s, 'DEL', 'a'), { err => 'ERR slot 579 is not served' }, 'DEL of one unserved key');
    is_deeply(resp_cmd($s, 'SINTER', 'foo', 'a'), { err => 'ERR slot 579 is not served' }, 'SINTER with an unserved key');
    is(resp_cmd($s, 'PING'), 'PONG', 'connection still usable');
    close $s;
    stop_cordis($c);
    log_is_clean($c);
}

done_testing();
