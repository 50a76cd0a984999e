#!/usr/bin/perl
# Fan-out commands, SCAN, same-group multi-key commands, scripts and the
# commands cordis refuses, against three real redis-server groups (slots
# 0-340 -> group 1, 341-681 -> group 2, 682-1023 -> group 3) and against a
# one-group cordis whose replies must be exactly its one backend's.
#
# A reference redis-server gets the same data and commands where a reply
# must equal what one Redis answers; the backends are read directly to see
# what a command did (or did not do) on each group.
use strict;
use warnings;

use Data::Dumper ();
use Digest::SHA qw(sha1_hex);
use Test::More;
use Time::HiRes ();

use CordisTest;

plan tests => 305;
$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(170);
my $t0 = Time::HiRes::time();

my @R   = map { start_redis() } 1 .. 3;     # group g is $R[g - 1]
my $ref = start_redis();                    # one Redis, the reference
my @P   = map { $_->{port} } @R;

my $conf = write_conf(
    groups => [ map { [ $_, "127.0.0.1:$P[$_ - 1]" ] } 1 .. 3 ],
    slots  => [ [ '0-340', 1 ], [ '341-681', 2 ], [ '682-1023', 3 ] ],
);
my $cordis = start_cordis($conf);

my $cs  = resp_connect($conf->{port});
my $cs2 = resp_connect($conf->{port});
my $rs  = resp_connect($ref->{port});

# --- helpers ----------------------------------------------------------------------

# The group (1, 2, 3) of a key in the three-group layout.
sub g3 {
    my $s = codis_slot($_[0]);
    return $s <= 340 ? 1 : $s <= 681 ? 2 : 3;
}

# The n-th key "prefix:i" of group g.
sub key3 {
    my ($prefix, $g, $n) = @_;
    $n //= 0;
    for my $i (0 .. 100000) {
        my $k = "$prefix:$i";
        next unless g3($k) == $g;
        return $k if $n-- == 0;
    }
    die "no key for $prefix in group $g";
}

# A direct connection to group g's backend (made again after a restart).
my @D;
sub direct {
    my ($g) = @_;
    $D[$g - 1] //= resp_connect($P[$g - 1]);
    return $D[$g - 1];
}
sub dcmd { my ($g, @cmd) = @_; return resp_cmd(direct($g), @cmd) }
sub dall { my (@cmd) = @_; return [ map { dcmd($_, @cmd) } 1 .. 3 ] }

sub show {
    my $d = Data::Dumper->new([ $_[0] ])->Terse(1)->Indent(0)->Sortkeys(1)->Useqq(1);
    return $d->Dump;
}
sub same_data { return show($_[0]) eq show($_[1]) }
# An array reply as a list ref; anything else as a one-element list that shows it.
sub arr { return ref $_[0] eq 'ARRAY' ? $_[0] : [ 'not an array: ' . show($_[0]) ] }
sub is_err { my ($r, $re) = @_; return ref $r eq 'HASH' && (!defined $re || $r->{err} =~ $re) }
sub err_of { return ref $_[0] eq 'HASH' ? $_[0]{err} : '(not an error: ' . show($_[0]) . ')' }

# Pipelines commands on one socket (one write) and reads every reply.
sub pipeline {
    my ($s, @cmds) = @_;
    print $s join '', map { resp_encode(@$_) } @cmds;
    return [ map { resp_read($s) } @cmds ];
}

# A command to cordis and to the reference: the replies must be equal and,
# unless $err_ok, not an error.
sub same {
    my ($name, @cmd) = @_;
    my $err_ok = ref $name eq 'ARRAY' ? ($name = $name->[0], 1)[1] : 0;
    my $got  = resp_cmd($cs, @cmd);
    my $want = resp_cmd($rs, @cmd);
    ok(same_data($got, $want) && ($err_ok || !is_err($want)), $name)
        or diag 'cordis: ' . show($got) . "\nredis:  " . show($want);
    return $got;
}

# Data for a check, written through cordis and on the reference alike.
my @setup_mismatch;
sub setup {
    for my $c (@_) {
        my $got  = resp_cmd($cs, @$c);
        my $want = resp_cmd($rs, @$c);
        push @setup_mismatch, "@$c: cordis " . show($got) . ', redis ' . show($want)
            unless same_data($got, $want) && !is_err($want);
    }
}

# What the backends hold for some keys (DUMP, from the group of each key).
sub snapshot {
    return show([ map { [ $_, dcmd(g3($_), 'DUMP', $_) ] } @_ ]);
}

my $CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";

# A command over keys of two groups: CROSSSLOT, and none of @keys changed.
sub crossslot {
    my ($name, $keys, @cmd) = @_;
    my %groups = map { g3($_) => 1 } @$keys;
    die "$name: the keys are in one group" if keys %groups < 2;
    my $before = snapshot(@$keys);
    my $r = resp_cmd($cs, @cmd);
    my $after = snapshot(@$keys);
    ok(is_err($r) && $r->{err} eq $CROSSSLOT && $before eq $after, "$name: CROSSSLOT, nothing changed")
        or diag 'got ' . show($r) . ($before eq $after ? '' : "\nbefore $before\nafter  $after");
}

# Library names in a FUNCTION LIST reply.
sub libs {
    my ($r) = @_;
    return [ 'not a list: ' . show($r) ] unless ref $r eq 'ARRAY';
    return [ sort map { my %h = @$_; $h{library_name} } @$r ];
}

sub info_field {
    my ($text, $field) = @_;
    return ($text // '') =~ /^\Q$field\E:(\S+)/m ? $1 : undef;
}

sub flushall_direct { dcmd($_, 'FLUSHALL') for 1 .. 3; resp_cmd($rs, 'FLUSHALL') }

# Puts $n keys "prefix:i" on each group g (n from @$counts).
sub seed {
    my ($prefix, @counts) = @_;
    my @keys;
    for my $g (1 .. 3) {
        push @keys, key3($prefix, $g, $_ - 1) for 1 .. $counts[$g - 1];
    }
    pipeline($cs, map { [ 'SET', $_, "v-$_" ] } @keys);
    return @keys;
}

# ================================================================================
# 1. Fan-out commands
# ================================================================================

# --- all_ok: FLUSHALL, FLUSHDB [ASYNC|SYNC] -------------------------------------

{
    seed('fa', 4, 5, 6);
    is_deeply(dall('DBSIZE'), [ 4, 5, 6 ], 'seeded keys on all three groups');
    is(resp_cmd($cs, 'FLUSHALL'), 'OK', 'FLUSHALL: +OK');
    is_deeply(dall('DBSIZE'), [ 0, 0, 0 ], 'FLUSHALL emptied all three backends');
    for my $mode ([], ['ASYNC'], ['SYNC']) {
        seed('fd', 3, 3, 3);
        my $r = resp_cmd($cs, 'FLUSHDB', @$mode);
        is($r, 'OK', "FLUSHDB @$mode: +OK");
        ok(wait_for(sub { show(dall('DBSIZE')) eq show([ 0, 0, 0 ]) }, 5),
           "FLUSHDB @$mode emptied all three backends") or diag show(dall('DBSIZE'));
    }
}

# --- sum: DBSIZE; concat: KEYS ----------------------------------------------------

{
    my @keys = seed('ds', 5, 7, 9);
    is(resp_cmd($cs, 'DBSIZE'), 21, 'DBSIZE is the sum over the groups (5 + 7 + 9)');
    my $d = dall('DBSIZE');
    is(resp_cmd($cs, 'DBSIZE'), $d->[0] + $d->[1] + $d->[2], 'DBSIZE equals the sum of the backends\' DBSIZE');
    my $got = resp_cmd($cs2, 'KEYS', 'ds:*');
    my @union = map { @{ dcmd($_, 'KEYS', 'ds:*') } } 1 .. 3;
    is_deeply([ sort @{ ref $got eq 'ARRAY' ? $got : [] } ], [ sort @union ],
              'KEYS ds:* is the union of the backends\' KEYS (same multiset)');
    is_deeply([ sort @union ], [ sort @keys ], '... which is every key written');
    is_deeply(resp_cmd($cs, 'KEYS', 'nomatch:*'), [], 'KEYS with no match: an empty array');
}

# --- fan-out in the selected db, and pipelined with keyed commands ---------------

{
    flushall_direct();
    my $s = resp_connect($conf->{port});
    is(resp_cmd($s, 'SELECT', '1'), 'OK', 'SELECT 1');
    my @k1 = map { key3('db1', $_) } 1 .. 3;
    pipeline($s, map { [ 'SET', $_, 1 ] } @k1);
    dcmd($_, 'SET', key3('db0', $_), 1) for 1 .. 3;
    is(resp_cmd($s, 'DBSIZE'), 3, 'DBSIZE in db 1: db 1\'s keys only');
    is_deeply([ sort @{ arr(resp_cmd($s, 'KEYS', '*')) } ], [ sort @k1 ], 'KEYS * in db 1: db 1\'s keys only');
    is(resp_cmd($s, 'FLUSHDB'), 'OK', 'FLUSHDB in db 1: +OK');
    is(resp_cmd($s, 'DBSIZE'), 0, '... db 1 is empty');
    is_deeply(dall('DBSIZE'), [ 1, 1, 1 ], '... db 0 of every backend untouched');
    close $s;

    my ($m1, $m3) = (key3('mix', 1), key3('mix', 3));
    my $got = pipeline($cs, ['FLUSHALL'], [ 'SET', $m1, 1 ], ['DBSIZE'], [ 'SET', $m3, 1 ], ['DBSIZE'],
                       [ 'KEYS', 'mix:*' ], ['FLUSHALL'], [ 'GET', $m1 ], ['DBSIZE'], [ 'SET', $m3, 2 ],
                       ['RANDOMKEY'], ['DBSIZE']);
    is_deeply($got, [ 'OK', 'OK', 1, 'OK', 2, [ $m1, $m3 ], 'OK', undef, 0, 'OK', $m3, 1 ],
              'fan-out and keyed commands pipelined: every reply in order, each seeing the ones before');
}

# --- CONFIG SET (all_ok), CONFIG GET (first, secrets filtered) ------------------

{
    is(resp_cmd($cs, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'), 'OK',
       'CONFIG SET maxmemory-policy allkeys-lru: +OK');
    is_deeply(dall('CONFIG', 'GET', 'maxmemory-policy'),
              [ map { [ 'maxmemory-policy', 'allkeys-lru' ] } 1 .. 3 ], '... set on all three backends');
    is(resp_cmd($cs, 'CONFIG', 'SET', 'maxmemory-policy', 'volatile-lfu', 'hz', '15'), 'OK',
       'CONFIG SET of two parameters: +OK');
    is_deeply(dall('CONFIG', 'GET', 'hz'), [ map { [ 'hz', 15 ] } 1 .. 3 ], '... hz on all three');
    is_deeply(dall('CONFIG', 'GET', 'maxmemory-policy'),
              [ map { [ 'maxmemory-policy', 'volatile-lfu' ] } 1 .. 3 ], '... maxmemory-policy on all three');

    # First group's reply: make the groups differ.
    dcmd($_, 'CONFIG', 'SET', 'hz', 10 + $_) for 1 .. 3;
    is_deeply(resp_cmd($cs, 'CONFIG', 'GET', 'hz'), [ 'hz', 11 ], 'CONFIG GET hz: the first group\'s value');
    # Secrets: a masterauth on every backend, not shown through cordis.
    dcmd($_, 'CONFIG', 'SET', 'masterauth', 'sekrit') for 1 .. 3;
    is_deeply(resp_cmd($cs, 'CONFIG', 'GET', 'masterauth'), [], 'CONFIG GET masterauth: filtered out');
    is_deeply(resp_cmd($cs, 'CONFIG', 'GET', 'requirepass'), [], 'CONFIG GET requirepass: filtered out');
    is_deeply(resp_cmd($cs, 'CONFIG', 'GET', 'tls-auth-clients'), dcmd(1, 'CONFIG', 'GET', 'tls-auth-clients'),
              'CONFIG GET tls-auth-clients (a yes/no setting, no secret): shown as the backend has it');
    my $all = resp_cmd($cs, 'CONFIG', 'GET', '*');
    my %got = ref $all eq 'ARRAY' ? @$all : ();
    my %want = @{ dcmd(1, 'CONFIG', 'GET', '*') };
    ok($want{masterauth} eq 'sekrit' && exists $want{requirepass}, 'the backend itself shows masterauth and requirepass');
    delete @want{qw(requirepass masterauth masteruser tls-key-file-pass tls-client-key-file-pass)};
    ok(keys %want > 100 && same_data(\%got, \%want),
       'CONFIG GET *: group 1\'s parameters without the password ones')
        or diag 'only cordis: ' . show([ grep { !exists $want{$_} } sort keys %got ])
              . "\nonly redis:  " . show([ grep { !exists $got{$_} } sort keys %want ])
              . "\ndiffer: " . show([ grep { exists $got{$_} && $got{$_} ne $want{$_} } sort keys %want ]);
    dcmd($_, 'CONFIG', 'SET', 'masterauth', '') for 1 .. 3;
    is(resp_cmd($cs, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction', 'hz', '10'), 'OK', 'CONFIG SET back');

    # The same error from every group: that error.
    same([ 'CONFIG SET nosuchparam: Redis\'s own error' ], 'CONFIG', 'SET', 'nosuchparam', '1');
    same([ 'CONFIG SET hz notanumber: Redis\'s own error' ], 'CONFIG', 'SET', 'hz', 'notanumber');
}

# --- CONFIG SET of a per-server parameter: refused by name, no backend touched --

{
    my $before = show([ dall('CONFIG', 'GET', 'dir'), dall('CONFIG', 'GET', 'maxmemory-policy'),
                        dall('CONFIG', 'GET', 'masterauth'), dall('CONFIG', 'GET', 'requirepass') ]);
    for my $c ([ 'port', '1', 'port' ], [ 'dir', '/tmp', 'dir' ], [ 'requirepass', 'x', 'requirepass' ],
               [ 'replicaof', 'no one', 'replicaof' ], [ 'masterauth', 'x', 'masterauth' ],
               [ 'PORT', '1', 'port' ]) {
        my ($p, $v, $name) = @$c;
        is_deeply(resp_cmd($cs, 'CONFIG', 'SET', $p, $v),
                  { err => "ERR CONFIG SET '$name' is per server: set it on each Redis server, not through cordis" },
                  "CONFIG SET $p: refused by name");
    }
    is_deeply(resp_cmd($cs, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru', 'dir', '/tmp'),
              { err => "ERR CONFIG SET 'dir' is per server: set it on each Redis server, not through cordis" },
              'CONFIG SET maxmemory-policy ... dir ...: refused as a whole');
    is(show([ dall('CONFIG', 'GET', 'dir'), dall('CONFIG', 'GET', 'maxmemory-policy'),
              dall('CONFIG', 'GET', 'masterauth'), dall('CONFIG', 'GET', 'requirepass') ]), $before,
       'no backend was touched (dir, maxmemory-policy, masterauth, requirepass unchanged)');
    is_deeply(dall('PING'), [ 'PONG', 'PONG', 'PONG' ], 'every backend still answers on its port without a password');
    is(resp_cmd($cs, 'PING'), 'PONG', 'the client connection still works');
}

# --- CONFIG RESETSTAT, SLOWLOG LEN / GET / RESET -------------------------------

{
    flushall_direct();
    my @keys = map { key3('rs', $_) } 1 .. 3;
    pipeline($cs, (map { [ 'SET', $_, 1 ] } @keys), (map { [ 'GET', $_ ] } @keys));
    my @hits = map { info_field(dcmd($_, 'INFO', 'stats'), 'keyspace_hits') } 1 .. 3;
    ok(!grep({ !$_ } @hits), "keyspace hits on every group (@hits)");
    is(resp_cmd($cs, 'CONFIG', 'RESETSTAT'), 'OK', 'CONFIG RESETSTAT: +OK');
    is_deeply([ map { info_field(dcmd($_, 'INFO', 'stats'), 'keyspace_hits') } 1 .. 3 ], [ 0, 0, 0 ],
              '... the stats of all three backends were reset');

    is(resp_cmd($cs, 'CONFIG', 'SET', 'slowlog-log-slower-than', '0'), 'OK', 'CONFIG SET slowlog-log-slower-than 0');
    pipeline($cs, map { [ 'SET', key3('sl', $_ % 3 + 1, int($_ / 3)), $_ ] } 0 .. 11);
    is(resp_cmd($cs, 'CONFIG', 'SET', 'slowlog-log-slower-than', '-1'), 'OK', 'CONFIG SET slowlog-log-slower-than -1');
    my @len = map { dcmd($_, 'SLOWLOG', 'LEN') } 1 .. 3;
    ok(!grep({ !$_ } @len), "every backend logged commands (@len)");
    is(resp_cmd($cs, 'SLOWLOG', 'LEN'), $len[0] + $len[1] + $len[2], 'SLOWLOG LEN is the sum over the groups');
    my $got = resp_cmd($cs, 'SLOWLOG', 'GET', '128');
    my $want = [ map { @{ dcmd($_, 'SLOWLOG', 'GET', '128') } } 1 .. 3 ];
    ok(@$want >= 12 && same_data($got, $want), 'SLOWLOG GET 128: the groups\' entries, group by group')
        or diag 'cordis: ' . show($got) . "\nbackends: " . show($want);
    is(resp_cmd($cs, 'SLOWLOG', 'RESET'), 'OK', 'SLOWLOG RESET: +OK');
    is_deeply([ map { dcmd($_, 'SLOWLOG', 'LEN') } 1 .. 3 ], [ 0, 0, 0 ], '... every backend\'s slowlog is empty');
    is(resp_cmd($cs, 'SLOWLOG', 'LEN'), 0, 'SLOWLOG LEN through cordis: 0');
    resp_cmd($cs, 'CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
}

# --- SCRIPT LOAD (same), SCRIPT EXISTS (and), SCRIPT FLUSH, SCRIPT KILL ----------

my $body1 = "return 'one:' .. (KEYS[1] or '')";
my $sha1  = sha1_hex($body1);
{
    is(resp_cmd($cs, 'SCRIPT', 'LOAD', $body1), $sha1, 'SCRIPT LOAD: the one sha');
    is_deeply(dall('SCRIPT', 'EXISTS', $sha1), [ [1], [1], [1] ], '... the script is on all three backends');
    my $body2 = "return 'two'";
    my $sha2 = sha1_hex($body2);
    dcmd($_, 'SCRIPT', 'LOAD', $body2) for 1, 2;
    is_deeply(resp_cmd($cs, 'SCRIPT', 'EXISTS', $sha1, $sha2), [ 1, 0 ],
              'SCRIPT EXISTS: 1 for a script on every group, 0 for one on groups 1 and 2 only');
    my $body3 = "return 'three'";
    dcmd(3, 'SCRIPT', 'LOAD', $body3);
    is_deeply(resp_cmd($cs2, 'SCRIPT', 'EXISTS', sha1_hex($body3), $sha2, $sha1, 'f' x 40), [ 0, 0, 1, 0 ],
              'SCRIPT EXISTS of four: only the script on all groups is 1');
    dcmd(3, 'SCRIPT', 'LOAD', $body2);
    is_deeply(resp_cmd($cs, 'SCRIPT', 'EXISTS', $sha2), [1], '... 1 once group 3 has it too');
    is(resp_cmd($cs, 'SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH: +OK');
    is_deeply(dall('SCRIPT', 'EXISTS', $sha1, $sha2), [ [ 0, 0 ], [ 0, 0 ], [ 0, 0 ] ],
              '... no script is left on any backend');
    is(resp_cmd($cs, 'SCRIPT', 'LOAD', $body1), $sha1, 'SCRIPT LOAD again');
    same([ 'SCRIPT LOAD of bad code: Redis\'s own error' ], 'SCRIPT', 'LOAD', 'return (');

    my $notbusy = { err => 'NOTBUSY No scripts in execution right now.' };
    is_deeply(resp_cmd($cs, 'SCRIPT', 'KILL'), $notbusy, 'SCRIPT KILL with nothing running: NOTBUSY');
    is_deeply(resp_cmd($rs, 'SCRIPT', 'KILL'), $notbusy, '... exactly as Redis says it');
    same([ 'FUNCTION KILL with nothing running: Redis\'s NOTBUSY' ], 'FUNCTION', 'KILL');
    is_deeply(resp_cmd($cs, 'FUNCTION', 'KILL'), $notbusy, '... NOTBUSY No scripts in execution right now.');
}

# --- FUNCTION LOAD (same), LIST / DUMP (first), DELETE, RESTORE, FLUSH -------------

my $lib = "#!lua name=fanlib\n"
        . "redis.register_function('kv2', function(keys, args) "
        . "return {keys[1], keys[2], redis.call('incr', keys[1]), redis.call('exists', keys[2])} end)";
{
    is(resp_cmd($cs, 'FUNCTION', 'LOAD', $lib), 'fanlib', 'FUNCTION LOAD: the library name');
    is_deeply([ map { libs(dcmd($_, 'FUNCTION', 'LIST')) } 1 .. 3 ], [ map { ['fanlib'] } 1 .. 3 ],
              '... the library is on all three backends');
    dcmd(2, 'FUNCTION', 'LOAD', "#!lua name=only2\nredis.register_function('o2', function() return 2 end)");
    my $list = resp_cmd($cs, 'FUNCTION', 'LIST');
    ok(same_data($list, dcmd(1, 'FUNCTION', 'LIST')) && same_data(libs($list), ['fanlib']),
       'FUNCTION LIST: the first group\'s (group 2 has another library too)') or diag show($list);
    my $dump = resp_cmd($cs, 'FUNCTION', 'DUMP');
    ok(!is_err($dump) && defined $dump && $dump eq dcmd(1, 'FUNCTION', 'DUMP'), 'FUNCTION DUMP: the first group\'s payload');
    isnt($dump, dcmd(2, 'FUNCTION', 'DUMP'), '... (group 2\'s payload differs)');

    is(resp_cmd($cs, 'FUNCTION', 'DELETE', 'fanlib'), 'OK', 'FUNCTION DELETE fanlib: +OK');
    is_deeply([ map { libs(dcmd($_, 'FUNCTION', 'LIST')) } 1 .. 3 ], [ [], ['only2'], [] ],
              '... deleted on all three backends');
    is(resp_cmd($cs, 'FUNCTION', 'RESTORE', $dump), 'OK', 'FUNCTION RESTORE of the dump: +OK');
    is_deeply([ map { libs(dcmd($_, 'FUNCTION', 'LIST')) } 1 .. 3 ], [ ['fanlib'], [ 'fanlib', 'only2' ], ['fanlib'] ],
              '... restored on all three backends');

    # Fails on one group only: the groups that failed and the ones that applied it.
    dcmd(1, 'FUNCTION', 'DELETE', 'fanlib');
    dcmd(3, 'FUNCTION', 'DELETE', 'fanlib');
    my $why = dcmd(2, 'FUNCTION', 'RESTORE', $dump);
    my $r = resp_cmd($cs, 'FUNCTION', 'RESTORE', $dump);
    is(err_of($r), 'ERR FUNCTION RESTORE failed on group 2 (' . err_of($why) . '); applied on groups 1, 3',
       'FUNCTION RESTORE that group 2 refuses: named, with its error, and the groups that applied it');
    is_deeply([ map { libs(dcmd($_, 'FUNCTION', 'LIST')) } 1 .. 3 ], [ ['fanlib'], [ 'fanlib', 'only2' ], ['fanlib'] ],
              '... applied on groups 1 and 3');

    is(resp_cmd($cs, 'FUNCTION', 'FLUSH'), 'OK', 'FUNCTION FLUSH: +OK');
    is_deeply([ map { libs(dcmd($_, 'FUNCTION', 'LIST')) } 1 .. 3 ], [ [], [], [] ],
              '... no library left on any backend');
    is(resp_cmd($cs, 'FUNCTION', 'LOAD', $lib), 'fanlib', 'FUNCTION LOAD again');
    is(resp_cmd($rs, 'FUNCTION', 'LOAD', $lib), 'fanlib', '... and on the reference');

    # Bad code: every group gives the same error, and that is the reply.
    my $bad = "#!lua name=badlib\nredis.register_function('f', function( return 1 end)";
    same([ 'FUNCTION LOAD of bad code: Redis\'s own error' ], 'FUNCTION', 'LOAD', $bad);
    same([ 'FUNCTION LOAD of an existing library: Redis\'s own error' ], 'FUNCTION', 'LOAD', $lib);
}

# --- TIME, LASTSAVE (first) --------------------------------------------------------

{
    my $t = resp_cmd($cs, 'TIME');
    my $d = dcmd(1, 'TIME');
    ok(ref $t eq 'ARRAY' && @$t == 2 && $t->[0] =~ /^\d+$/ && $t->[1] =~ /^\d+$/
       && abs($t->[0] - $d->[0]) <= 2, 'TIME: two integers, group 1\'s clock') or diag show($t);
}

# --- RANDOMKEY -------------------------------------------------------------------

{
    flushall_direct();
    is(resp_cmd($cs, 'RANDOMKEY'), undef, 'RANDOMKEY with every group empty: nil');
    for my $g (1 .. 3) {
        my $k = key3("rk$g", $g);
        dcmd($g, 'SET', $k, 1);
        my @got = map { resp_cmd($cs, 'RANDOMKEY') } 1 .. 5;
        is_deeply(\@got, [ ($k) x 5 ], "RANDOMKEY with keys on group $g only: that key");
        dcmd($g, 'DEL', $k);
    }
    my @keys = seed('rnd', 10, 10, 10);
    my %seen;
    my $bad = 0;
    for my $r (@{ pipeline($cs, map { ['RANDOMKEY'] } 1 .. 60) }) {
        if (!defined $r || ref $r || $r !~ /^rnd:/) { $bad++; next }
        $seen{ g3($r) }++;
    }
    ok($bad == 0 && keys %seen >= 2, '60 RANDOMKEYs with keys everywhere: keys of '
       . scalar(keys %seen) . ' groups') or diag show([ $bad, \%seen ]);
}

# ================================================================================
# 7. Refused and unknown commands
# ================================================================================

{
    flushall_direct();
    my $k = key3('keep', 2);
    resp_cmd($cs, 'SET', $k, 'kept');
    for my $c ([ 'SHUTDOWN', ['SHUTDOWN'] ], [ 'MONITOR', ['MONITOR'] ],
               [ 'DEBUG', [ 'DEBUG', 'SLEEP', '0' ] ], [ 'SWAPDB', [ 'SWAPDB', '0', '1' ] ],
               [ 'FAILOVER', ['FAILOVER'] ], [ 'REPLICAOF', [ 'REPLICAOF', 'NO', 'ONE' ] ],
               [ 'CLUSTER INFO', [ 'CLUSTER', 'INFO' ] ],
               [ 'MIGRATE', [ 'MIGRATE', '127.0.0.1', $ref->{port}, $k, '0', '1000' ] ]) {
        my ($name, $cmd) = @$c;
        my $r = resp_cmd($cs, @$cmd);
        ok(is_err($r, qr/^ERR command '\Q$name\E' is not supported by cordis: \S/),
           "$name: refused, with the reason") or diag show($r);
        is(resp_cmd($cs, 'PING'), 'PONG', "... PING works after $name");
    }
    is_deeply(dall('PING'), [ 'PONG', 'PONG', 'PONG' ], 'every backend still runs (no SHUTDOWN reached them)');
    is_deeply([ map { info_field(dcmd($_, 'INFO', 'replication'), 'role') } 1 .. 3 ], [ ('master') x 3 ],
              '... each still a primary');
    is(dcmd(2, 'GET', $k), 'kept', 'the key is still in db 0 of its group (no SWAPDB, no MIGRATE)');
    is(resp_cmd($rs, 'EXISTS', $k), 0, '... and nothing migrated to the other server');
    my $r = resp_cmd($cs, 'foo', 'a');
    is_deeply($r, { err => "ERR unknown command 'foo', with args beginning with: 'a' " },
              'unknown command: Redis\'s exact error');
    is_deeply($r, resp_cmd($rs, 'foo', 'a'), '... the same as redis-server');
    is(resp_cmd($cs, 'PING'), 'PONG', '... and the connection stays open');
}

# ================================================================================
# 5. Same-group multi-key commands and CROSSSLOT
# ================================================================================

# {t} is in group 2; x1/x2/x3 are keys of groups 1/2/3.
my ($x1, $x1b) = (key3('x', 1, 0), key3('x', 1, 1));
my ($x2, $x2b) = (key3('x', 2, 0), key3('x', 2, 1));
my ($x3, $x3b) = (key3('x', 3, 0), key3('x', 3, 1));
sub reset_x { setup([ 'DEL', $x1, $x1b, $x2, $x2b, $x3, $x3b ]) }
die "{t} is not in group 2" unless g3('{t}') == 2;
{
    flushall_direct();

    # Strings: BITOP, MSETNX, RENAME, RENAMENX, COPY.
    setup([ 'SET', '{t}b1', 'abc' ], [ 'SET', '{t}b2', 'abd' ], [ 'SET', $x1, 'abc' ], [ 'SET', $x2, 'abd' ]);
    same('BITOP AND in one group', 'BITOP', 'AND', '{t}bd', '{t}b1', '{t}b2');
    same('... the result', 'GET', '{t}bd');
    crossslot('BITOP over groups 1 and 2', [ $x1b, $x1, $x2 ], 'BITOP', 'OR', $x1b, $x1, $x2);

    same('MSETNX in one group', 'MSETNX', '{t}m1', 'a', '{t}m2', 'b');
    same('... the values', 'MGET', '{t}m1', '{t}m2');
    same('MSETNX in one group, one key exists', 'MSETNX', '{t}m3', 'c', '{t}m1', 'x');
    crossslot('MSETNX over groups 1 and 3', [ $x1b, $x3b ], 'MSETNX', $x1b, 'a', $x3b, 'b');
    is_deeply(resp_cmd($cs, 'MSETNX', $x1b, 'a', $x3b), { err => "ERR wrong number of arguments for 'msetnx' command" },
              'MSETNX over two groups with an odd count: Redis\'s arity error (as MSET gives)');

    setup([ 'SET', '{t}r1', 'one' ], [ 'SET', '{t}r2', 'two' ]);
    same('RENAME in one group', 'RENAME', '{t}r1', '{t}r3');
    same('... the value moved', 'MGET', '{t}r1', '{t}r3');
    same('RENAMENX in one group, target exists', 'RENAMENX', '{t}r3', '{t}r2');
    same('RENAMENX in one group', 'RENAMENX', '{t}r3', '{t}r4');
    same('... the value moved', 'MGET', '{t}r3', '{t}r4');
    setup([ 'SET', $x1b, 'g1' ]);
    same('RENAME of two keys of group 1 in different slots', 'RENAME', $x1b, key3('x', 1, 2));
    crossslot('RENAME from group 1 to group 2', [ $x1, $x2b ], 'RENAME', $x1, $x2b);
    crossslot('RENAMENX from group 3 to group 1', [ $x3, $x1b ], 'RENAMENX', $x3, $x1b);

    same('COPY in one group', 'COPY', '{t}m1', '{t}c1');
    same('... the copy', 'GET', '{t}c1');
    same([ 'COPY in one group onto an existing key: 0' ], 'COPY', '{t}m1', '{t}c1');
    crossslot('COPY from group 1 to group 3', [ $x1, $x3b ], 'COPY', $x1, $x3b);

    reset_x();
    # Sets: SMOVE, SINTERSTORE, SUNIONSTORE, SDIFFSTORE, SINTERCARD.
    setup([ 'SADD', '{t}s1', 'a', 'b', 'c' ], [ 'SADD', '{t}s2', 'b', 'c', 'd' ],
          [ 'SADD', $x1, 'a', 'b' ], [ 'SADD', $x3, 'b' ]);
    same('SMOVE in one group', 'SMOVE', '{t}s1', '{t}s2', 'a');
    is_deeply([ sort @{ arr(resp_cmd($cs, 'SMEMBERS', '{t}s2')) } ], [ sort @{ arr(resp_cmd($rs, 'SMEMBERS', '{t}s2')) } ],
              '... the destination set');
    crossslot('SMOVE from group 1 to group 3', [ $x1, $x3 ], 'SMOVE', $x1, $x3, 'a');
    for my $c (qw(SINTERSTORE SUNIONSTORE SDIFFSTORE)) {
        same("$c in one group", $c, '{t}sd', '{t}s1', '{t}s2');
        my $got = resp_cmd($cs, 'SMEMBERS', '{t}sd');
        my $want = resp_cmd($rs, 'SMEMBERS', '{t}sd');
        is_deeply([ sort @{ arr($got) } ], [ sort @{ arr($want) } ], "... ${c}'s result");
        crossslot("$c over groups 1 and 3", [ $x1b, $x1, $x3 ], $c, $x1b, $x1, $x3);
    }
    same('SINTERCARD in one group', 'SINTERCARD', '2', '{t}s1', '{t}s2');
    crossslot('SINTERCARD over groups 1 and 3', [ $x1, $x3 ], 'SINTERCARD', '2', $x1, $x3);

    reset_x();
    # Lists: RPOPLPUSH, LMOVE, LMPOP.
    setup([ 'RPUSH', '{t}l1', 'a', 'b', 'c' ], [ 'RPUSH', '{t}l2', 'x' ],
          [ 'RPUSH', $x1, 'a', 'b' ], [ 'RPUSH', $x2, 'z' ]);
    same('RPOPLPUSH in one group', 'RPOPLPUSH', '{t}l1', '{t}l2');
    same('LMOVE in one group', 'LMOVE', '{t}l1', '{t}l2', 'LEFT', 'RIGHT');
    same('... the destination', 'LRANGE', '{t}l2', '0', '-1');
    same('LMPOP in one group', 'LMPOP', '2', '{t}l0', '{t}l2', 'LEFT', 'COUNT', '2');
    crossslot('RPOPLPUSH from group 1 to group 2', [ $x1, $x2 ], 'RPOPLPUSH', $x1, $x2);
    crossslot('LMOVE from group 2 to group 1', [ $x1, $x2 ], 'LMOVE', $x2, $x1, 'LEFT', 'LEFT');
    crossslot('LMPOP over groups 1 and 2', [ $x1, $x2 ], 'LMPOP', '2', $x1, $x2, 'RIGHT');

    reset_x();
    # Sorted sets: ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE, ZRANGESTORE, ZMPOP, ZINTERCARD.
    setup([ 'ZADD', '{t}z1', '1', 'a', '2', 'b', '3', 'c' ], [ 'ZADD', '{t}z2', '10', 'b', '20', 'd' ],
          [ 'ZADD', $x1, '1', 'a' ], [ 'ZADD', $x3, '2', 'a' ]);
    for my $c (qw(ZUNIONSTORE ZINTERSTORE ZDIFFSTORE)) {
        my @w = $c eq 'ZDIFFSTORE' ? () : ('WEIGHTS', '1', '2');
        same("$c in one group", $c, '{t}zd', '2', '{t}z1', '{t}z2', @w);
        same("... ${c}'s result", 'ZRANGE', '{t}zd', '0', '-1', 'WITHSCORES');
        crossslot("$c over groups 1 and 3", [ $x1b, $x1, $x3 ], $c, $x1b, '2', $x1, $x3);
        crossslot("$c into group 2 from group 1", [ $x2b, $x1 ], $c, $x2b, '1', $x1);
    }
    same('ZRANGESTORE in one group', 'ZRANGESTORE', '{t}zr', '{t}z1', '0', '1');
    same('... the result', 'ZRANGE', '{t}zr', '0', '-1', 'WITHSCORES');
    crossslot('ZRANGESTORE from group 1 into group 3', [ $x3b, $x1 ], 'ZRANGESTORE', $x3b, $x1, '0', '-1');
    same('ZINTERCARD in one group', 'ZINTERCARD', '2', '{t}z1', '{t}z2');
    crossslot('ZINTERCARD over groups 1 and 3', [ $x1, $x3 ], 'ZINTERCARD', '2', $x1, $x3);
    same('ZMPOP in one group', 'ZMPOP', '2', '{t}z1', '{t}z2', 'MIN', 'COUNT', '2');
    crossslot('ZMPOP over groups 1 and 3', [ $x1, $x3 ], 'ZMPOP', '2', $x1, $x3, 'MAX');

    reset_x();
    # GEOSEARCHSTORE.
    setup([ 'GEOADD', '{t}geo', '13.361389', '38.115556', 'Palermo', '15.087269', '37.502669', 'Catania' ],
          [ 'GEOADD', $x1, '13.361389', '38.115556', 'Palermo' ]);
    same('GEOSEARCHSTORE in one group', 'GEOSEARCHSTORE', '{t}gd', '{t}geo', 'FROMLONLAT', '15', '37',
         'BYRADIUS', '200', 'km', 'ASC');
    same('... the result', 'ZRANGE', '{t}gd', '0', '-1', 'WITHSCORES');
    crossslot('GEOSEARCHSTORE from group 1 into group 3', [ $x3, $x1 ], 'GEOSEARCHSTORE', $x3, $x1,
              'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km');

    reset_x();
    # HyperLogLog: PFMERGE, PFCOUNT of several keys.
    setup([ 'PFADD', '{t}h1', 'a', 'b', 'c' ], [ 'PFADD', '{t}h2', 'c', 'd' ],
          [ 'PFADD', $x1, 'a' ], [ 'PFADD', $x2, 'b' ]);
    same('PFCOUNT of two keys in one group', 'PFCOUNT', '{t}h1', '{t}h2');
    same('PFMERGE in one group', 'PFMERGE', '{t}hd', '{t}h1', '{t}h2');
    same('... the merged count', 'PFCOUNT', '{t}hd');
    crossslot('PFCOUNT over groups 1 and 2', [ $x1, $x2 ], 'PFCOUNT', $x1, $x2);
    crossslot('PFMERGE over groups 1 and 2', [ $x1b, $x1, $x2 ], 'PFMERGE', $x1b, $x1, $x2);

    reset_x();
    # SORT: STORE, BY / GET patterns.
    setup([ 'RPUSH', '{t}list', '3', '1', '2' ], [ 'MSET', '{t}w_1', '30', '{t}w_2', '10', '{t}w_3', '20' ],
          [ 'MSET', '{t}o_1', 'one', '{t}o_2', 'two', '{t}o_3', 'three' ], [ 'RPUSH', $x1, '2', '1' ]);
    same('SORT', 'SORT', '{t}list');
    same('SORT BY a pattern with the key\'s hash tag', 'SORT', '{t}list', 'BY', '{t}w_*');
    same('SORT BY and GET with hash-tag patterns', 'SORT', '{t}list', 'BY', '{t}w_*', 'GET', '{t}o_*', 'GET', '#');
    same('SORT BY nosort', 'SORT', '{t}list', 'BY', 'nosort');
    same('SORT ... STORE in one group', 'SORT', '{t}list', 'BY', '{t}w_*', 'STORE', '{t}sorted');
    same('... the stored list', 'LRANGE', '{t}sorted', '0', '-1');
    for my $c ([ 'BY', 'w_*' ], [ 'BY', '{t}w_*', 'GET', 'o_*' ], [ 'GET', 'o_*' ]) {
        my $r = resp_cmd($cs, 'SORT', '{t}list', @$c);
        ok(is_err($r, qr/^CROSSSLOT /), "SORT {t}list @$c (no hash tag): CROSSSLOT") or diag show($r);
    }
    crossslot('SORT of group 1 STORE into group 3', [ $x1, $x3 ], 'SORT', $x1, 'STORE', $x3);

    reset_x();
    # Streams: XREAD of two streams.
    setup([ 'XADD', '{t}x1', '1-1', 'f', 'v1' ], [ 'XADD', '{t}x2', '2-1', 'f', 'v2' ],
          [ 'XADD', $x1, '1-1', 'f', 'v' ], [ 'XADD', $x2, '1-1', 'f', 'v' ]);
    same('XREAD STREAMS of two keys in one group', 'XREAD', 'COUNT', '10', 'STREAMS', '{t}x1', '{t}x2', '0', '0');
    crossslot('XREAD STREAMS over groups 1 and 2', [ $x1, $x2 ], 'XREAD', 'STREAMS', $x1, $x2, '0', '0');

    reset_x();
    # Scripts and functions with two keys.
    my $body = "redis.call('incr', KEYS[1]) return {KEYS[1], KEYS[2], redis.call('get', KEYS[1]), "
             . "redis.call('exists', KEYS[2])}";
    setup([ 'SET', '{t}e1', '5' ], [ 'SET', '{t}e2', 'x' ], [ 'SET', $x1, '5' ], [ 'SET', $x3, '5' ]);
    same('EVAL with two keys in one group', 'EVAL', $body, '2', '{t}e1', '{t}e2');
    same('EVALSHA with two keys in one group', 'EVALSHA', sha1_hex($body), '2', '{t}e1', '{t}e2');
    same('FCALL with two keys in one group', 'FCALL', 'kv2', '2', '{t}e1', '{t}e2');
    same('... the counter', 'GET', '{t}e1');
    crossslot('EVAL over groups 1 and 3', [ $x1, $x3 ], 'EVAL', $body, '2', $x1, $x3);
    crossslot('EVALSHA over groups 3 and 1', [ $x1, $x3 ], 'EVALSHA', sha1_hex($body), '2', $x3, $x1);
    crossslot('FCALL over groups 1 and 3', [ $x1, $x3 ], 'FCALL', 'kv2', '2', $x1, $x3);

    reset_x();
    # DUMP and RESTORE: from a key of one group into a key of another.
    setup([ 'RPUSH', $x1b, 'a', 'b', 'c' ], [ 'HSET', '{t}hash', 'f', 'v' ]);
    my $payload = same('DUMP of a list', 'DUMP', $x1b);
    same('RESTORE into a key of another group', 'RESTORE', $x3b, '0', $payload);
    is_deeply(dcmd(3, 'LRANGE', $x3b, '0', '-1'), [ 'a', 'b', 'c' ], '... the list is on group 3\'s backend');
    same([ 'RESTORE onto an existing key: BUSYKEY' ], 'RESTORE', $x3b, '0', $payload);
    same('RESTORE ... REPLACE', 'RESTORE', $x3b, '0', $payload, 'REPLACE');
    same('OBJECT ENCODING of a list', 'OBJECT', 'ENCODING', $x3b);
    same('OBJECT ENCODING of a hash', 'OBJECT', 'ENCODING', '{t}hash');
    same([ 'OBJECT ENCODING of a missing key' ], 'OBJECT', 'ENCODING', 'no:such:key');
    my $mu = resp_cmd($cs, 'MEMORY', 'USAGE', $x3b);
    ok(defined $mu && !ref $mu && $mu > 0 && $mu == dcmd(3, 'MEMORY', 'USAGE', $x3b),
       'MEMORY USAGE: the backend\'s figure for the key') or diag show($mu);
    is(resp_cmd($cs, 'MEMORY', 'USAGE', '{t}hash', 'SAMPLES', '0'), dcmd(2, 'MEMORY', 'USAGE', '{t}hash', 'SAMPLES', '0'),
       'MEMORY USAGE ... SAMPLES 0: the backend\'s figure');
    is(resp_cmd($cs, 'MOVE', $x3b, '1'), 1, 'MOVE key 1: 1');
    my $d3 = direct(3);
    is_deeply([ resp_cmd($d3, 'EXISTS', $x3b), resp_cmd($d3, 'SELECT', '1'), resp_cmd($d3, 'LRANGE', $x3b, '0', '-1'),
                resp_cmd($d3, 'SELECT', '0') ], [ 0, 'OK', [ 'a', 'b', 'c' ], 'OK' ],
              '... the key moved to db 1 of its group\'s backend');
    is(resp_cmd($cs, 'MOVE', $x3b, '1'), 0, 'MOVE of a missing key: 0');
    is_deeply(resp_cmd($cs, 'MOVE', $x1b, '0'), resp_cmd($rs, 'MOVE', $x1b, '0'), 'MOVE to the same db: Redis\'s error');

    ok(!@setup_mismatch, 'every setup command answered as on one Redis') or diag join("\n", @setup_mismatch);
}

# ================================================================================
# 6. Scripts
# ================================================================================

{
    flushall_direct();
    my $body = "return {KEYS[1], ARGV[1], redis.call('incr', KEYS[1])}";
    for my $g (1 .. 3) {
        same("EVAL with a key of group $g", 'EVAL', $body, '1', key3('ev', $g), "a$g");
    }
    setup([ 'SET', '{t}e2str', 'notanumber' ]);
    same([ 'EVAL raising an error: Redis\'s error' ], 'EVAL', "return redis.call('incr', KEYS[1])", '1', '{t}e2str');

    # numkeys 0: the group of slot 0 (group 1), whatever the script touches.
    my $zero = "redis.call('set', 'lua:zero', '1') return 'done'";
    is(resp_cmd($cs, 'EVAL', $zero, '0'), 'done', 'EVAL with numkeys 0');
    is_deeply(dall('GET', 'lua:zero'), [ '1', undef, undef ],
              '... ran on group 1, the owner of slot 0 (lua:zero itself is a slot of group 3)');

    # NOSCRIPT recovery: flushed on one backend behind cordis's back.
    my $sbody = "return 'sha:' .. KEYS[1] .. ':' .. redis.call('incr', KEYS[1])";
    my $sha = sha1_hex($sbody);
    is(resp_cmd($cs, 'SCRIPT', 'LOAD', $sbody), $sha, 'SCRIPT LOAD through cordis');
    is(dcmd(2, 'SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH directly on group 2');
    my $k2 = key3('ns', 2);
    is(resp_cmd($cs, 'EVALSHA', $sha, '1', $k2), "sha:$k2:1", 'EVALSHA with a key of group 2: the result, not NOSCRIPT');
    is_deeply(dcmd(2, 'SCRIPT', 'EXISTS', $sha), [1], '... and the script is on group 2 again');
    dcmd(2, 'SCRIPT', 'FLUSH');
    is(resp_cmd($cs, 'EVALSHA', uc $sha, '1', $k2), "sha:$k2:2", 'EVALSHA with the sha in upper case: recovered too');
    dcmd(2, 'SCRIPT', 'FLUSH');
    print $cs "EVALSHA $sha 1 $k2\r\n";
    is(resp_read($cs), "sha:$k2:3", 'EVALSHA sent as an inline command: recovered too');
    dcmd(2, 'SCRIPT', 'FLUSH');
    is(resp_cmd($cs, 'EVALSHA', $sha, '1', $k2, 'z' x 300_000), "sha:$k2:4",
       'EVALSHA with a 300 KB argument: recovered too');

    # Loaded by EVAL on group 1 only; EVALSHA on group 3, which never saw it.
    my $ebody = "return 'eval:' .. KEYS[1] .. ':' .. ARGV[1]";
    my $esha = sha1_hex($ebody);
    my ($k1, $k3) = (key3('ee', 1), key3('ee', 3));
    is(resp_cmd($cs, 'EVAL', $ebody, '1', $k1, 'x'), "eval:$k1:x", 'EVAL with a key of group 1');
    is_deeply(dall('SCRIPT', 'EXISTS', $esha), [ [1], [0], [0] ], '... the script is on group 1 only');
    is(resp_cmd($cs2, 'EVALSHA', $esha, '1', $k3, 'y'), "eval:$k3:y",
       'EVALSHA of it with a key of group 3 (another connection): the result, not NOSCRIPT');
    is_deeply(dcmd(3, 'SCRIPT', 'EXISTS', $esha), [1], '... loaded on group 3 on the way');

    # 100 EVALSHAs over every group in one write, group 3 without the script.
    dcmd(3, 'SCRIPT', 'FLUSH');
    dcmd(1, 'SCRIPT', 'FLUSH');
    my @cmds = map { [ 'EVALSHA', $sha, '1', key3('pl', $_ % 3 + 1, int($_ / 3)) ] } 0 .. 99;
    my $got = pipeline($cs, @cmds);
    is_deeply($got, [ map { "sha:$_->[3]:1" } @cmds ], '100 pipelined EVALSHAs: 100 right replies in order');
    is_deeply(dall('SCRIPT', 'EXISTS', $sha), [ [1], [1], [1] ], '... the script is on every group now');

    # SCRIPT FLUSH through cordis forgets: NOSCRIPT as from one Redis.
    is(resp_cmd($cs, 'SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH through cordis');
    resp_cmd($rs, 'SCRIPT', 'FLUSH');
    for my $g (1 .. 3) {
        same([ "EVALSHA after SCRIPT FLUSH, group $g: NOSCRIPT" ], 'EVALSHA', $sha, '1', key3('nf', $g));
    }
    my $r = resp_cmd($cs2, 'EVALSHA', $esha, '1', $k3, 'z');
    ok(is_err($r, qr/^NOSCRIPT /), '... also for a script loaded by EVAL, on another connection') or diag show($r);
}

# ================================================================================
# 4. SCAN
# ================================================================================

my @old_cursors;
{
    flushall_direct();
    my $N = 100_000;
    my $ok = 0;
    for (my $i = 0; $i < $N; $i += 1000) {
        my $r = pipeline($cs, map { [ 'SET', "k:$_", 'x' ] } $i .. $i + 999);
        $ok += grep { defined $_ && !ref $_ && $_ eq 'OK' } @$r;
    }
    is($ok, $N, "$N SETs through cordis, 1000 per write");
    my $d = dall('DBSIZE');
    ok($d->[0] + $d->[1] + $d->[2] == $N && !grep({ $_ < 30000 } @$d), "spread over the groups (@$d)");
    my $all = resp_cmd($cs2, 'KEYS', 'k:*');
    my %once = map { $_ => 1 } @{ ref $all eq 'ARRAY' ? $all : [] };
    ok(@{ arr($all) } == $N && keys %once == $N && !grep({ !$once{"k:$_"} } 0 .. $N - 1),
       "KEYS k:* over $N keys: every key, once");
    pipeline($cs, (map { [ 'HSET', "h:$_", 'f', 'v' ] } 1 .. 5), (map { [ 'RPUSH', "l:$_", 'x' ] } 1 .. 4));
    Time::HiRes::sleep(0.3);   # let the backends finish any rehashing

    # Iterates SCAN from 0 until the cursor is 0 again, alternating connections.
    my $scan = sub {
        my (@opt) = @_;
        my (%count, @bad_cursor, @first);
        my ($cursor, $calls) = (0, 0);
        do {
            my $r = resp_cmd($calls % 2 ? $cs2 : $cs, 'SCAN', $cursor, @opt);
            $calls++;
            die 'SCAN: ' . show($r) unless ref $r eq 'ARRAY' && @$r == 2 && ref $r->[1] eq 'ARRAY';
            push @first, scalar @{ $r->[1] } if $calls == 1;
            $count{$_}++ for @{ $r->[1] };
            $cursor = $r->[0];
            push @bad_cursor, $cursor unless $cursor =~ /^(0|[1-9]\d*)$/;
            push @old_cursors, $cursor if $cursor ne '0' && $calls % 25 == 0;
            die "SCAN: more than 5000 calls\n" if $calls > 5000;
        } while ($cursor ne '0');
        return (\%count, $calls, \@bad_cursor, $first[0]);
    };

    my ($count, $calls, $bad, $first) = $scan->('COUNT', 1000);
    my @dups = grep { $count->{$_} > 1 } keys %$count;
    my @missing = grep { !$count->{"k:$_"} } 0 .. $N - 1;
    is(scalar(@$bad), 0, "SCAN COUNT 1000: every cursor a plain decimal integer ($calls calls)")
        or diag show([ @$bad[ 0 .. 4 ] ]);
    is(scalar(@missing), 0, '... no key missing') or diag "missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]";
    is(scalar(@dups), 0, '... no key twice') or diag "twice: @dups[0 .. ($#dups < 9 ? $#dups : 9)]";
    is(scalar(keys %$count), $N + 9, '... exactly the keys there are');
    ok($first >= 1000 && $calls <= 150, "... COUNT 1000 honoured (first reply $first keys, $calls calls)");
    my $r0 = resp_cmd($cs, 'SCAN', '0');
    ok(ref $r0 eq 'ARRAY' && @{ $r0->[1] } >= 10 && @{ $r0->[1] } < 100,
       'SCAN 0 without COUNT: about 10 keys') or diag show($r0);

    ($count, $calls, $bad) = $scan->('MATCH', 'k:1*', 'COUNT', 1000);
    my @want = grep { /^1/ } 0 .. $N - 1;
    is_deeply([ sort keys %$count ], [ sort map { "k:$_" } @want ], 'SCAN MATCH k:1*: exactly the matching keys ('
              . scalar(@want) . ')');
    is(scalar(grep { $_ > 1 } values %$count) + scalar(@$bad), 0, '... each once, plain cursors');

    ($count) = $scan->('TYPE', 'hash', 'COUNT', 1000);
    is_deeply([ sort keys %$count ], [ map { "h:$_" } 1 .. 5 ], 'SCAN TYPE hash: the five hashes only');
    is(scalar(grep { $_ > 1 } values %$count), 0, '... each once');
    ($count) = $scan->('MATCH', 'l:*', 'TYPE', 'list', 'COUNT', 2000);
    is_deeply([ sort keys %$count ], [ map { "l:$_" } 1 .. 4 ], 'SCAN MATCH l:* TYPE list COUNT 2000: the four lists');

    # Bad cursors.
    is_deeply(resp_cmd($cs, 'SCAN', 'notanumber'), { err => 'ERR invalid cursor' }, 'SCAN notanumber: ERR invalid cursor');
    is_deeply(resp_cmd($cs, 'SCAN', 'notanumber'), resp_cmd($rs, 'SCAN', 'notanumber'), '... as Redis says it');

    # Few keys, some groups empty.
    resp_cmd($cs, 'FLUSHALL');
    my @only3 = map { key3('s3', 3, $_) } 0 .. 2;
    pipeline($cs, map { [ 'SET', $_, 1 ] } @only3);
    ($count, $calls) = $scan->();
    is_deeply([ sort keys %$count ], [ sort @only3 ], 'SCAN with keys on group 3 only: those keys');
    resp_cmd($cs, 'FLUSHALL');
    ($count, $calls) = $scan->();
    ok(!%$count && $calls >= 1 && $calls <= 3, "SCAN with every group empty: nothing, and the cursor is 0 again ($calls calls)");
}

# ================================================================================
# 2. Partial failure: one group's backend down, then back
# ================================================================================

{
    my $p2 = $P[1];
    my @keys = seed('pf', 3, 3, 3);
    # The restarts below must come in a later second than group 1's start (LASTSAVE).
    my $ls1 = dcmd(1, 'LASTSAVE');
    wait_for(sub { Time::HiRes::time() >= $ls1 + 1.01 }, 3);
    stop_redis($R[1]);
    undef $D[1];
    my $r = resp_cmd($cs, 'FLUSHALL');
    like(err_of($r), qr/^ERR FLUSHALL failed on group 2 \(ERR backend 127\.0\.0\.1:$p2 unavailable: .+\); applied on groups 1, 3$/,
         'FLUSHALL with group 2 down: group 2 failed, applied on groups 1, 3');
    is_deeply([ dcmd(1, 'DBSIZE'), dcmd(3, 'DBSIZE') ], [ 0, 0 ], '... groups 1 and 3 are empty');
    is(resp_cmd($cs, 'PING'), 'PONG', '... and the connection still works');
    $r = resp_cmd($cs, 'DBSIZE');
    like(err_of($r), qr/^ERR DBSIZE failed on group 2 \(ERR backend 127\.0\.0\.1:$p2 unavailable: .+\)$/,
         'DBSIZE with group 2 down: group 2 failed, no "applied on" (a read)');
    is(resp_cmd($cs, 'SET', key3('pf', 1), 'up'), 'OK', 'a key of group 1 is still served');

    $R[1] = start_redis(port => $p2);
    ok(wait_for(sub { my $n = resp_cmd($cs, 'DBSIZE'); defined $n && !ref $n && $n == 1 }, 3),
       'group 2 back on its port: DBSIZE works again within 3 s');
    is(resp_cmd($cs, 'SET', key3('pf', 2), 'back'), 'OK', 'SET of a key of group 2');
    is(dcmd(2, 'GET', key3('pf', 2)), 'back', '... on group 2\'s backend');
    is(resp_cmd($cs, 'FLUSHALL'), 'OK', 'FLUSHALL: +OK again');

    # Two groups down: plural.
    seed('pf', 1, 1, 1);
    my $p3 = $P[2];
    stop_redis($R[1]);
    stop_redis($R[2]);
    @D[1, 2] = (undef, undef);
    $r = resp_cmd($cs2, 'FLUSHALL');
    like(err_of($r), qr/^ERR FLUSHALL failed on groups 2 \(ERR backend 127\.0\.0\.1:$p2 unavailable: .+\), 3 \(ERR backend 127\.0\.0\.1:$p3 unavailable: .+\); applied on group 1$/,
         'FLUSHALL with groups 2 and 3 down: both named, applied on group 1');
    is(dcmd(1, 'DBSIZE'), 0, '... group 1 is empty');
    is(resp_cmd($cs2, 'PING'), 'PONG', '... and the connection still works');
    $R[1] = start_redis(port => $p2);
    $R[2] = start_redis(port => $p3);
    ok(wait_for(sub { (resp_cmd($cs2, 'FLUSHALL') // '') eq 'OK' }, 3), 'both back: FLUSHALL +OK within 3 s');
    my @k = map { key3('back', $_) } 1 .. 3;
    is_deeply(pipeline($cs, (map { [ 'SET', $_, "v$_" ] } @k), (map { [ 'GET', $_ ] } @k)),
              [ ('OK') x 3, map { "v$_" } @k ], 'every group serves keys again');
    is(resp_cmd($cs, 'DBSIZE'), 3, 'DBSIZE: 3');

    # LASTSAVE: groups 2 and 3 restarted later than group 1; the first group's.
    my $ls = dall('LASTSAVE');
    ok($ls->[1] > $ls->[0], "group 2's LASTSAVE ($ls->[1]) is later than group 1's ($ls->[0])");
    is(resp_cmd($cs, 'LASTSAVE'), $ls->[0], 'LASTSAVE: the first group\'s');
}

# ================================================================================
# 4 (end). A SCAN cursor made for three groups, after a reload to two
# ================================================================================

{
    ok(@old_cursors >= 3, 'cursors kept from the three-group SCANs (' . scalar(@old_cursors) . ')');
    my $reloads = admin_get($conf, '/api/proxy/model')->{json}{reload}{ok} // 0;
    my $k = key3('reload', 3);      # group 3's slot, group 2's after the reload
    dcmd(2, 'SET', $k, 'on-two');
    write_conf(port => $conf->{port}, admin_port => $conf->{admin_port},
               groups => [ [ 1, "127.0.0.1:$P[0]" ], [ 2, "127.0.0.1:$P[1]" ] ],
               slots  => [ [ '0-511', 1 ], [ '512-1023', 2 ] ]);
    kill 'HUP', $cordis->{pid};
    ok(wait_for(sub { (admin_get($conf, '/api/proxy/model')->{json}{reload}{ok} // 0) > $reloads }, 10),
       'the reload to two groups was applied');
    ok(wait_for(sub {
        for (1 .. 6) {
            my $s = resp_connect($conf->{port});
            my $v = resp_cmd($s, 'GET', $k);
            close $s;
            return 0 unless defined $v && $v eq 'on-two';
        }
        return 1;
    }, 10), 'every worker routes by the new groups');
    my @errs = map { resp_cmd($cs, 'SCAN', $_) } @old_cursors;
    my @wrong = grep { !is_err($_, qr/start the SCAN again from 0/) } @errs;
    ok(!@wrong, 'every three-group cursor (' . scalar(@errs) . ') is refused: start the SCAN again from 0')
        or diag show(\@wrong);
    my $fresh = resp_connect($conf->{port});
    ok(is_err(resp_cmd($fresh, 'SCAN', $old_cursors[0]), qr/start the SCAN again from 0/), '... on a new connection too');
    my %seen;
    my ($cursor, $calls) = (0, 0);
    do {
        my $r = resp_cmd($fresh, 'SCAN', $cursor);
        $seen{$_}++ for @{ $r->[1] };
        $cursor = $r->[0];
    } while ($cursor ne '0' && ++$calls < 100);
    is_deeply([ sort keys %seen ], [ sort(@{ dcmd(1, 'KEYS', '*') }, @{ dcmd(2, 'KEYS', '*') }) ],
              'a SCAN from 0 visits the two groups\' keys');
    close $fresh;
}

close $_ for $cs, $cs2;
is(stop_cordis($cordis), 0, 'the three-group cordis stops cleanly');
log_is_clean($cordis);

# ================================================================================
# One group: every reply is the backend's own
# ================================================================================

{
    my $solo = start_redis();
    my $c1 = write_conf(name => 'one.conf', groups => [ [ 1, "127.0.0.1:$solo->{port}" ] ],
                        slots => [ [ '0-1023', 1 ] ]);
    my $one = start_cordis($c1);
    my $s = resp_connect($c1->{port});
    my $d = resp_connect($solo->{port});
    my $cmp = sub {
        my ($name, @cmd) = @_;
        my $got = resp_cmd($s, @cmd);
        my $want = resp_cmd($d, @cmd);
        ok(same_data($got, $want), "one group: $name") or diag 'cordis: ' . show($got) . "\nredis:  " . show($want);
        return $got;
    };
    $cmp->('RANDOMKEY of an empty db (nil)', 'RANDOMKEY');
    resp_cmd($s, 'SET', 'only', '1');
    $cmp->('RANDOMKEY of one key', 'RANDOMKEY');
    pipeline($s, map { [ 'SET', "one:$_", $_ ] } 1 .. 1000);
    $cmp->('DBSIZE', 'DBSIZE');
    my $k = resp_cmd($s, 'KEYS', 'one:1*');
    is_deeply($k, resp_cmd($d, 'KEYS', 'one:1*'), 'one group: KEYS one:1* (same order)');
    # SCAN step by step: the same cursors and keys.
    my ($cc, $dc, $steps, $differ) = (0, 0, 0, 0);
    do {
        my $a = resp_cmd($s, 'SCAN', $cc, 'COUNT', '10');
        my $b = resp_cmd($d, 'SCAN', $dc, 'COUNT', '10');
        $differ++ unless same_data($a, $b);
        ($cc, $dc) = ($a->[0], $b->[0]);
        $steps++;
    } while (($cc ne '0' || $dc ne '0') && $steps < 1000);
    ok($differ == 0 && $steps > 50, "one group: SCAN COUNT 10 gives the backend's cursors and keys ($steps steps)");
    $cmp->('SCAN 0 COUNT 10', 'SCAN', '0', 'COUNT', '10');
    $cmp->('SCAN 0 MATCH one:2* COUNT 100', 'SCAN', '0', 'MATCH', 'one:2*', 'COUNT', '100');
    $cmp->('SCAN notanumber', 'SCAN', 'notanumber');
    $cmp->('CONFIG SET nosuchparam', 'CONFIG', 'SET', 'nosuchparam', '1');
    $cmp->('CONFIG SET maxmemory-policy', 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    $cmp->('CONFIG GET maxmemory-*', 'CONFIG', 'GET', 'maxmemory-*');
    $cmp->('SCRIPT LOAD', 'SCRIPT', 'LOAD', $body1);
    $cmp->('SCRIPT EXISTS', 'SCRIPT', 'EXISTS', $sha1, 'f' x 40);
    $cmp->('SCRIPT KILL', 'SCRIPT', 'KILL');
    $cmp->('FUNCTION KILL', 'FUNCTION', 'KILL');
    $cmp->('FUNCTION LOAD of bad code', 'FUNCTION', 'LOAD', "#!lua name=x\nredis.register_function(");
    $cmp->('SLOWLOG RESET', 'SLOWLOG', 'RESET');
    $cmp->('FLUSHDB', 'FLUSHDB');
    $cmp->('DBSIZE after FLUSHDB', 'DBSIZE');
    close $_ for $s, $d;
    is(stop_cordis($one), 0, 'the one-group cordis stops cleanly');
    log_is_clean($one);
    stop_redis($solo);
}

stop_redis($_) for @R, $ref;
diag sprintf('t/25-fanout.t ran in %.1f s', Time::HiRes::time() - $t0);
