#!/usr/bin/perl
# Commands through cordis answer exactly as Redis does.
#
# A client drives cordis (two groups: slots 0-511 -> group 1, 512-1023 ->
# group 2) and a third, reference redis-server with the same commands; the
# replies are compared structure for structure. Then the commands cordis
# answers itself (PING, SELECT, AUTH, HELLO, CLIENT, COMMAND, INFO, QUIT) and
# cordis's own errors (forbidden, CROSSSLOT).
use strict;
use warnings;

use Digest::SHA qw(sha1_hex);
use FindBin;
use Test::More;
use Time::HiRes ();

use CordisTest;

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(120);

my $r1  = start_redis();
my $r2  = start_redis();
my $ref = start_redis();

my $conf = write_conf(
    groups => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$r2->{port}" ] ],
    slots  => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
);
my $cordis = start_cordis($conf);

my $cs = resp_connect($conf->{port});
my $rs = resp_connect($ref->{port});

# Backend port of the group that owns a key.
sub backend_of { codis_slot($_[0]) < 512 ? $r1->{port} : $r2->{port} }

# The n-th key "prefix:i" whose slot is in group g (1: 0-511, 2: 512-1023).

# Sends a command to cordis and to the reference; the replies must match.
sub same {
    my ($name, @cmd) = @_;
    my $got  = resp_cmd($cs, @cmd);
    my $want = resp_cmd($rs, @cmd);
    (my $show = "@cmd[0 .. ($#cmd < 4 ? $#cmd : 4)]") =~ s/[^ -~]/./g;
    is_deeply($got, $want, "$name: $show")
        or diag explain { cordis => $got, redis => $want };
    return $got;
}


# --- strings ------------------------------------------------------------------

for my $g (1, 2) {
    my $k = key_in_group('str', $g);
    my $n = key_in_group('num', $g);
    same("strings g$g", 'SET', $k, 'hello');
    same("strings g$g", 'GET', $k);
    same("strings g$g", 'APPEND', $k, ' world');
    same("strings g$g", 'STRLEN', $k);
    same("strings g$g", 'GETRANGE', $k, 0, 4);
    same("strings g$g", 'GETRANGE', $k, -5, -1);
    same("strings g$g", 'SETRANGE', $k, 6, 'WORLD');
    same("strings g$g", 'GET', $k);
    same("strings g$g", 'SET', $k, 'x', 'NX');
    same("strings g$g", 'SET', $k, 'y', 'XX', 'GET');
    same("strings g$g", 'GETSET', $k, 'z');
    same("strings g$g", 'GETDEL', $k);
    same("strings g$g", 'GET', $k);
    same("strings g$g", 'SETNX', $k, 'first');
    same("strings g$g", 'SETNX', $k, 'second');
    same("strings g$g", 'INCR', $n);
    same("strings g$g", 'INCRBY', $n, 41);
    same("strings g$g", 'DECR', $n);
    same("strings g$g", 'DECRBY', $n, -10);
    same("strings g$g", 'INCRBYFLOAT', $n, '0.5');
    same("strings g$g", 'INCR', $k);      # not an integer: Redis's error
    same("strings g$g", 'SETEX', "$k:ex", 100, 'v');
    same("strings g$g", 'PSETEX', "$k:pex", 100000, 'v');
    same("strings g$g", 'GET', "$k:pex");
    same("strings g$g", 'GETEX', "$k:ex", 'PERSIST');
    same("strings g$g", 'TTL', "$k:ex");
    same("strings g$g", 'SETEX', "$k:bad", 0, 'v');   # invalid expire time
    same("strings g$g", 'GET', 'never:set:' . $g);
}

# --- hashes -------------------------------------------------------------------

for my $g (1, 2) {
    my $h = key_in_group('hash', $g);
    same("hash g$g", 'HSET', $h, 'f1', 'v1', 'f2', 'v2', 'f3', 'v3');
    same("hash g$g", 'HGET', $h, 'f2');
    same("hash g$g", 'HMGET', $h, 'f1', 'nope', 'f3');
    same("hash g$g", 'HGETALL', $h);
    same("hash g$g", 'HLEN', $h);
    same("hash g$g", 'HEXISTS', $h, 'f1');
    same("hash g$g", 'HINCRBY', $h, 'n', 7);
    same("hash g$g", 'HINCRBYFLOAT', $h, 'n', '1.25');
    same("hash g$g", 'HDEL', $h, 'f1', 'nope');
    same("hash g$g", 'HKEYS', $h);
    same("hash g$g", 'HVALS', $h);
    same("hash g$g", 'HSETNX', $h, 'f2', 'x');
    same("hash g$g", 'HSTRLEN', $h, 'f2');
}

# --- lists --------------------------------------------------------------------

for my $g (1, 2) {
    my $l = key_in_group('list', $g);
    same("list g$g", 'RPUSH', $l, 'a', 'b', 'c');
    same("list g$g", 'LPUSH', $l, 'z');
    same("list g$g", 'LRANGE', $l, 0, -1);
    same("list g$g", 'LLEN', $l);
    same("list g$g", 'LINDEX', $l, 2);
    same("list g$g", 'LSET', $l, 0, 'Z');
    same("list g$g", 'LINSERT', $l, 'BEFORE', 'b', 'a2');
    same("list g$g", 'LPOS', $l, 'c');
    same("list g$g", 'LPOP', $l);
    same("list g$g", 'RPOP', $l, 2);
    same("list g$g", 'LRANGE', $l, 0, -1);
    same("list g$g", 'LREM', $l, 0, 'a');
    same("list g$g", 'LTRIM', $l, 0, 0);
    same("list g$g", 'LRANGE', $l, 0, -1);
    same("list g$g", 'LSET', $l, 10, 'x');    # index out of range
}

# --- sets ---------------------------------------------------------------------

for my $g (1, 2) {
    my $s = key_in_group('set', $g);
    same("set g$g", 'SADD', $s, 'a', 'b', 'c', 'a');
    same("set g$g", 'SCARD', $s);
    same("set g$g", 'SISMEMBER', $s, 'b');
    same("set g$g", 'SMISMEMBER', $s, 'a', 'x');
    same("set g$g", 'SREM', $s, 'c', 'x');
    # Member order of a small set is its insertion order in a listpack/intset
    # only for Redis internals; compare sorted.
    my $got  = resp_cmd($cs, 'SMEMBERS', $s);
    my $want = resp_cmd($rs, 'SMEMBERS', $s);
    is_deeply([ sort @$got ], [ sort @$want ], "set g$g: SMEMBERS (sorted)");
}

# --- sorted sets --------------------------------------------------------------

for my $g (1, 2) {
    my $z = key_in_group('zset', $g);
    same("zset g$g", 'ZADD', $z, 1, 'one', 2.5, 'two', 3, 'three');
    same("zset g$g", 'ZRANGE', $z, 0, -1, 'WITHSCORES');
    same("zset g$g", 'ZREVRANGE', $z, 0, 1);
    same("zset g$g", 'ZRANGEBYSCORE', $z, '(1', '+inf', 'WITHSCORES');
    same("zset g$g", 'ZSCORE', $z, 'two');
    same("zset g$g", 'ZINCRBY', $z, '0.25', 'two');
    same("zset g$g", 'ZRANK', $z, 'three');
    same("zset g$g", 'ZCARD', $z);
    same("zset g$g", 'ZCOUNT', $z, 2, 3);
    same("zset g$g", 'ZMSCORE', $z, 'one', 'nope');
    same("zset g$g", 'ZPOPMIN', $z);
    same("zset g$g", 'ZRANGE', $z, 0, -1, 'WITHSCORES');
    same("zset g$g", 'ZADD', $z, 'notafloat', 'x');
}

# --- streams ------------------------------------------------------------------

for my $g (1, 2) {
    my $x = key_in_group('stream', $g);
    same("stream g$g", 'XADD', $x, '1-1', 'f', 'v');
    same("stream g$g", 'XADD', $x, '2-0', 'a', 'b', 'c', 'd');
    same("stream g$g", 'XADD', $x, '1-0', 'late', 'x');   # id too small
    same("stream g$g", 'XLEN', $x);
    same("stream g$g", 'XRANGE', $x, '-', '+');
    same("stream g$g", 'XREVRANGE', $x, '+', '-', 'COUNT', 1);
    same("stream g$g", 'XDEL', $x, '1-1');
    same("stream g$g", 'XRANGE', $x, '-', '+');
}

# --- expiry -------------------------------------------------------------------

for my $g (1, 2) {
    my $k = key_in_group('ttl', $g);
    same("expire g$g", 'SET', $k, 'v');
    same("expire g$g", 'TTL', $k);
    same("expire g$g", 'EXPIRE', $k, 100);
    my $t = resp_cmd($cs, 'TTL', $k);
    ok($t == 100 || $t == 99, "expire g$g: TTL through cordis is 100 (got $t)");
    $t = resp_cmd($cs, 'PTTL', $k);
    ok($t > 98000 && $t <= 100000, "expire g$g: PTTL through cordis ~100000 (got $t)");
    same("expire g$g", 'PERSIST', $k);
    same("expire g$g", 'TTL', $k);
    same("expire g$g", 'PERSIST', $k);
    same("expire g$g", 'TTL', "$k:missing");
    same("expire g$g", 'PEXPIRE', $k, 1);
    ok(wait_for(sub { !defined resp_cmd($cs, 'GET', $k) }, 5), "expire g$g: key expired");
}

# --- scripting ----------------------------------------------------------------

my $script = "return redis.call('incrby', KEYS[1], ARGV[1])";
my $sha = sha1_hex($script);
for my $g (1, 2) {
    my $k = key_in_group('lua', $g);
    same("eval g$g", 'EVAL', $script, 1, $k, 5);
    same("eval g$g", 'EVAL', $script, 1, $k, 10);
    # EVAL cached the script on the key's backend: EVALSHA finds it there.
    same("evalsha g$g", 'EVALSHA', $sha, 1, $k, 1);
    same("eval g$g", 'EVAL', "return {KEYS[1], ARGV[1], 3}", 1, $k, 'arg');
    same("eval g$g", 'EVAL', "return redis.call('nosuchcmd')", 1, $k);
}
same('eval', 'EVAL', 'return 42', 0);
same('evalsha', 'EVALSHA', 'ffffffffffffffffffffffffffffffffffffffff', 1, 'lua:x');
is(resp_cmd($cs, 'SCRIPT', 'LOAD', 'return 1'), sha1_hex('return 1'),
   'SCRIPT LOAD: one sha from every group');
is_deeply(resp_cmd($cs, 'EVAL', $script, 2, key_in_group('lua', 1), key_in_group('lua', 2), 1),
          { err => "CROSSSLOT Keys in request don't hash to the same slot" },
          'EVAL over keys in two groups: CROSSSLOT');

# --- errors -------------------------------------------------------------------

{
    my $l = key_in_group('wrongtype', 1);
    same('wrongtype', 'LPUSH', $l, 'x');
    my $r = same('wrongtype', 'GET', $l);
    like($r->{err} // '', qr/^WRONGTYPE /, 'WRONGTYPE comes through');
    same('wrongtype', 'HGET', $l, 'f');
    same('wrongtype', 'ZADD', $l, 1, 'x');

    $r = same('arity', 'GET');
    is_deeply($r, { err => "ERR wrong number of arguments for 'get' command" }, 'GET with no key: arity error');
    same('arity', 'GET', 'a', 'b');
    same('arity', 'SET', 'a');
    same('arity', 'HSET', 'h', 'f');
    same('arity', 'EVAL', 'return 1');

    $r = same('unknown', 'foo', 'a', 'b');
    is_deeply($r, { err => "ERR unknown command 'foo', with args beginning with: 'a' 'b' " },
              'unknown command: Redis text');
    same('unknown', 'NOSUCHCOMMAND');
    same('unknown subcommand', 'OBJECT', 'FOO', 'bar');
    same('syntax', 'SET', 'k', 'v', 'EX');

    $r = resp_cmd($cs, 'shutdown');
    is_deeply($r, { err => "ERR command 'SHUTDOWN' is not supported by cordis: it would stop one "
                           . "Redis server behind the proxy" },
              'SHUTDOWN (lower case) is refused, name upper-cased, with the reason');
    is(resp_cmd($cs, 'PING'), 'PONG', 'connection usable after a refused command');
    is_deeply(resp_cmd($cs, 'CLUSTER', 'info'),
              { err => "ERR command 'CLUSTER INFO' is not supported by cordis: cordis is not a "
                       . "Redis Cluster node; it shards with Codis's 1024 slots" },
              'a refused subcommand is named as the client typed it');
    same('usable', 'SET', 'after:forbidden', 'ok');
}

# --- multi-key commands: one group or CROSSSLOT -------------------------------

{
    my ($a1, $a2) = (key_in_group('ms', 1, 0), key_in_group('ms', 1, 1));
    my $b1 = key_in_group('ms', 2, 0);
    isnt(codis_slot($a1), codis_slot($a2), 'two keys of group 1 in different slots');
    for my $k ($a1, $a2, $b1) {
        same('multi setup', 'SADD', $k, 'x', 'y', $k);
    }
    my $cross = { err => "CROSSSLOT Keys in request don't hash to the same slot" };
    is_deeply(resp_cmd($cs, 'SINTER', $a1, $b1), $cross, 'SINTER over two groups: CROSSSLOT');
    is_deeply(resp_cmd($cs, 'SUNIONSTORE', $a1, $a2, $b1), $cross, 'SUNIONSTORE touching two groups: CROSSSLOT');
    is_deeply(resp_cmd($cs, 'RENAME', $a1, $b1), $cross, 'RENAME across groups: CROSSSLOT');
    is_deeply(resp_cmd($cs, 'SMOVE', $b1, $a1, 'x'), $cross, 'SMOVE across groups: CROSSSLOT');
    # Nothing moved.
    is(resp_cmd($cs, 'SCARD', $a1), 3, 'CROSSSLOT left the source untouched');
    is(resp_cmd($cs, 'SCARD', $b1), 3, 'CROSSSLOT left the destination untouched');

    # Same group, even different slots: one backend has every key.
    my $got  = resp_cmd($cs, 'SINTER', $a1, $a2);
    my $want = resp_cmd($rs, 'SINTER', $a1, $a2);
    is_deeply([ sort @$got ], [ sort @$want ], 'same group: SINTER over two slots');
    same('same group', 'SUNIONSTORE', key_in_group('ms', 1, 2), $a1, $a2);

    # Hashtags keep keys together.
    for my $tag ('u1', 'u9') {
        my ($ka, $kb) = ("{$tag}a", "{$tag}b");
        is(codis_slot($ka), codis_slot($kb), "{$tag}a and {$tag}b share a slot");
        same("hashtag $tag", 'SADD', $ka, 1, 2, 3);
        same("hashtag $tag", 'SADD', $kb, 2, 3, 4);
        my $got  = resp_cmd($cs, 'SINTER', $ka, $kb);
        my $want = resp_cmd($rs, 'SINTER', $ka, $kb);
        is_deeply([ sort @$got ], [ sort @$want ], "hashtag $tag: SINTER");
        same("hashtag $tag", 'SINTERSTORE', "{$tag}dst", $ka, $kb);
        same("hashtag $tag", 'RENAME', $ka, "{$tag}c");
        same("hashtag $tag", 'EXISTS', $ka);
        same("hashtag $tag", 'SCARD', "{$tag}c");
        same("hashtag $tag", 'LMOVE', "{$tag}nolist", "{$tag}l2", 'LEFT', 'RIGHT');
    }
}

# --- commands whose keys are not simply argv[1] --------------------------------

{
    my ($ka, $kb, $kc) = ('{kp}a', '{kp}b', '{kp}c');
    same('keys', 'ZADD', $ka, 1, 'x', 2, 'y');
    same('keys', 'ZADD', $kb, 3, 'y', 4, 'z');
    same('keys', 'ZUNIONSTORE', $kc, 2, $ka, $kb, 'WEIGHTS', 1, 2);
    same('keys', 'ZRANGE', $kc, 0, -1, 'WITHSCORES');
    same('keys', 'ZINTERCARD', 2, $ka, $kb);
    same('keys', 'ZUNION', 2, $ka, $kb, 'WITHSCORES');
    same('keys', 'RPUSH', '{kp}l1', 3, 1, 2);
    same('keys', 'LMPOP', 2, '{kp}l0', '{kp}l1', 'LEFT', 'COUNT', 2);
    same('keys', 'SORT', '{kp}l1', 'STORE', '{kp}sorted');
    same('keys', 'LRANGE', '{kp}sorted', 0, -1);
    same('keys', 'OBJECT', 'ENCODING', $ka);
    same('keys', 'OBJECT', 'ENCODING', '{kp}missing');
    same('keys', 'XADD', '{kp}s', '5-1', 'f', 'v');
    same('keys', 'XGROUP', 'CREATE', '{kp}s', 'grp', '0');
    same('keys', 'XREADGROUP', 'GROUP', 'grp', 'c1', 'COUNT', 5, 'STREAMS', '{kp}s', '>');
    same('keys', 'XREAD', 'COUNT', 5, 'STREAMS', '{kp}s', '0-0');
    same('keys', 'XPENDING', '{kp}s', 'grp');
    same('keys', 'EVAL', 'return 1', -1, $ka);
    same('keys', 'EVAL', 'return 1', 5, $ka);
    same('keys', 'EVAL', 'return 1', 'x', $ka);
    same('keys', 'EVAL', "return redis.call('zcard', KEYS[1]) + redis.call('zcard', KEYS[2])", 2, $ka, $kb);
    same('keys', 'COMMAND', 'GETKEYS', 'MSET', 'a', '1', 'b', '2');
    same('keys', 'COMMAND', 'GETKEYS', 'EVAL', 'return 1', '2', 'k1', 'k2', 'arg');
    same('keys', 'COMMAND', 'GETKEYS', 'GET');
    my $cross = { err => "CROSSSLOT Keys in request don't hash to the same slot" };
    my ($g1, $g2) = (key_in_group('kp', 1), key_in_group('kp', 2));
    is_deeply(resp_cmd($cs, 'ZUNIONSTORE', $g1, 2, $g1, $g2), $cross, 'ZUNIONSTORE over two groups: CROSSSLOT');
    is_deeply(resp_cmd($cs, 'LMPOP', 2, $g1, $g2, 'LEFT'), $cross, 'LMPOP over two groups: CROSSSLOT');
    is_deeply(resp_cmd($cs, 'XREAD', 'STREAMS', $g1, $g2, 0, 0), $cross, 'XREAD over two groups: CROSSSLOT');
}

# A blocking read holds its backend connection: other clients of the same
# group must not wait behind it (cordis refuses it, or gives it its own
# connection).
{
    my $blocker = resp_connect($conf->{port});
    my $stream = key_in_group('blk', 1);
    my @others = map { resp_connect($conf->{port}) } 1 .. 8;    # some share its worker
    my $k = key_in_group('blk', 1, 1);
    resp_cmd($others[0], 'SET', $k, 'fast');
    for my $cmd ([ 'XREAD', 'BLOCK', 1500, 'STREAMS', $stream, '$' ],
                 [ 'XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', 1500, 'STREAMS', $stream, '>' ]) {
        resp_cmd($blocker, 'XGROUP', 'CREATE', $stream, 'g', '$', 'MKSTREAM') if $cmd->[0] eq 'XREADGROUP';
        resp_send($blocker, @$cmd);
        my $worst = 0;
        for my $o (@others) {
            my $t0 = Time::HiRes::time();
            my $v = resp_cmd($o, 'GET', $k);
            my $dt = Time::HiRes::time() - $t0;
            $worst = $dt if $dt > $worst;
            $worst = 99 unless defined $v && $v eq 'fast';
        }
        cmp_ok($worst, '<', 0.5, sprintf("$cmd->[0] ... BLOCK does not hold up other clients of its group (worst %.2f s)", $worst));
        my $r = resp_read_or_closed($blocker, 5);
        ok(!defined $r || ref $r eq 'HASH', "$cmd->[0] BLOCK: answered (nil or an error)");
    }
    close $_ for $blocker, @others;
}

# --- commands cordis answers itself -------------------------------------------

same('ping', 'PING');
same('ping', 'PING', 'hello world');
same('echo', 'ECHO', "bin\0ary\r\n");
same('ping arity', 'PING', 'a', 'b');

{
    # SELECT: later commands go to that database of the backend.
    my $s = resp_connect($conf->{port});
    my $k = key_in_group('sel', 2);
    is(resp_cmd($s, 'SELECT', 3), 'OK', 'SELECT 3');
    is(resp_cmd($s, 'SET', $k, 'in-db-3'), 'OK', 'SET after SELECT 3');
    is(resp_cmd($s, 'GET', $k), 'in-db-3', 'GET after SELECT 3');
    my $b = resp_connect(backend_of($k));
    is(resp_cmd($b, 'GET', $k), undef, 'backend db 0 does not have the key');
    is(resp_cmd($b, 'SELECT', 3), 'OK', 'backend SELECT 3');
    is(resp_cmd($b, 'GET', $k), 'in-db-3', 'backend db 3 has the key');
    close $b;
    is(resp_cmd($cs, 'GET', $k), undef, 'another client (db 0) does not see it');
    my $k1 = key_in_group('sel', 1);
    is(resp_cmd($s, 'SET', $k1, 'g1-db3'), 'OK', 'SET in db 3, group 1');
    is(redis_cmd($r1->{port}, 'GET', $k1), undef, 'group 1 db 0 does not have it');
    is(resp_cmd($s, 'MSET', $k, 'm2', $k1, 'm1'), 'OK', 'MSET across groups in db 3');
    is_deeply(resp_cmd($s, 'MGET', $k1, $k), [ 'm1', 'm2' ], 'MGET across groups in db 3');
    my $rb = resp_connect($r1->{port});
    resp_cmd($rb, 'SELECT', 3);
    is(resp_cmd($rb, 'GET', $k1), 'm1', 'MSET child went to db 3 of group 1');
    close $rb;

    is_deeply(resp_cmd($s, 'SELECT', 99), { err => 'ERR DB index is out of range' }, 'SELECT 99');
    same('select', 'SELECT', 99);
    same('select', 'SELECT', -1);
    same('select', 'SELECT', 'abc');
    is(resp_cmd($s, 'GET', $k), 'm2', 'failed SELECT keeps db 3');
    is(resp_cmd($s, 'SELECT', 0), 'OK', 'SELECT 0');
    is(resp_cmd($s, 'GET', $k), undef, 'back in db 0');

    # SELECT in the middle of a pipeline applies from there on.
    my $enc = sub { '*' . scalar(@_) . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @_) };
    print $s join '', map { $enc->(@$_) } [ 'SET', $k1, 'db0' ], [ 'SELECT', 7 ], [ 'SET', $k1, 'db7' ],
        [ 'GET', $k1 ], [ 'MGET', $k1, $k ], [ 'SELECT', 0 ], [ 'GET', $k1 ];
    is_deeply([ map { resp_read($s) } 1 .. 7 ], [ 'OK', 'OK', 'OK', 'db7', [ 'db7', undef ], 'OK', 'db0' ],
              'pipelined SELECT switches databases between requests');
    my $rb7 = resp_connect($r1->{port});
    resp_cmd($rb7, 'SELECT', 7);
    is(resp_cmd($rb7, 'GET', $k1), 'db7', 'backend db 7 has the value set after SELECT 7');
    close $rb7;
    close $s;
}

# AUTH with no password configured: Redis's text.
my $r = same('auth without password', 'AUTH', 'x');
like($r->{err} // '', qr/^ERR AUTH <password> called without any password configured/, 'AUTH without password text');
same('auth without password', 'AUTH', 'default', 'x');

# HELLO
{
    my $h = resp_cmd($cs, 'HELLO', 2);
    is(ref $h, 'ARRAY', 'HELLO 2 answers an array');
    is(scalar @$h, 14, 'HELLO 2: 14 elements');
    my %h = @$h;
    is_deeply([ map { $h->[ 2 * $_ ] } 0 .. 6 ], [qw(server version proto id mode role modules)],
              'HELLO 2: field names in order');
    is($h{server}, 'redis', 'HELLO: server redis');
    like($h{version}, qr/^\d+\.\d+\.\d+$/, 'HELLO: version');
    is($h{proto}, 2, 'HELLO: proto 2');
    like($h{id}, qr/^\d+$/, 'HELLO: id integer');
    is($h{mode}, 'standalone', 'HELLO: mode');
    is($h{role}, 'master', 'HELLO: role');
    is_deeply($h{modules}, [], 'HELLO: modules empty');
    my $rh = resp_cmd($rs, 'HELLO', 2);
    is_deeply([ map { $h->[ 2 * $_ ] } 0 .. 6 ], [ map { $rh->[ 2 * $_ ] } 0 .. 6 ], 'HELLO 2 fields as Redis');
    is($h{id}, resp_cmd($cs, 'CLIENT', 'ID'), 'HELLO id is CLIENT ID');
    like(resp_cmd($cs, 'HELLO', 3)->{err} // '', qr/^NOPROTO /, 'HELLO 3: NOPROTO');
    is(resp_cmd($cs, 'PING'), 'PONG', 'still RESP2 after HELLO 3 refused');
    same('hello', 'HELLO', 4);
    same('hello', 'HELLO', 'x');
    same('hello', 'HELLO', 2, 'SETNAME', 'bad name');
}

# CLIENT
{
    my $s = resp_connect($conf->{port});
    my $rr = resp_connect($ref->{port});
    for my $cmd (['CLIENT', 'GETNAME'], ['CLIENT', 'SETNAME', 'myname'], ['CLIENT', 'GETNAME'],
                 ['CLIENT', 'SETNAME', 'has space'], ['CLIENT', 'GETNAME'],
                 ['CLIENT', 'SETNAME', ''], ['CLIENT', 'GETNAME'], ['CLIENT', 'NOSUCH']) {
        my $got = resp_cmd($s, @$cmd);
        my $want = resp_cmd($rr, @$cmd);
        is_deeply($got, $want, "client: @$cmd") or diag explain { cordis => $got, redis => $want };
    }
    my $id = resp_cmd($s, 'CLIENT', 'ID');
    like($id, qr/^\d+$/, 'CLIENT ID is an integer');
    is(resp_cmd($s, 'CLIENT', 'ID'), $id, 'CLIENT ID is stable on a connection');
    close $s;
    close $rr;

    # Ids are unique across the proxy, whichever worker took the client.
    my @conns = map { resp_connect($conf->{port}) } 1 .. 40;
    my @ids = map { resp_cmd($_, 'CLIENT', 'ID') } @conns;
    my %workers = map { ((resp_cmd($_, 'INFO', 'cordis') =~ /^worker:(\d+)/m)[0] => 1) } @conns;
    is(scalar(keys %workers), 2, 'the 40 connections went to both workers');
    my %seen;
    $seen{$_}++ for @ids;
    is(scalar(keys %seen), scalar(@ids), 'CLIENT ID unique over 40 connections on two workers')
        or diag "ids: @ids";
    close $_ for @conns;
}

# COMMAND
{
    my $n = resp_cmd($cs, 'COMMAND', 'COUNT');
    ok(!ref $n && $n > 200, "COMMAND COUNT > 200 (got $n)");
    my $info = resp_cmd($cs, 'COMMAND', 'INFO', 'get');
    is(ref $info, 'ARRAY', 'COMMAND INFO get: array');
    my $get = $info->[0];
    is($get->[0], 'get', 'COMMAND INFO get: name');
    is($get->[1], 2, 'COMMAND INFO get: arity 2');
    is($get->[3], 1, 'COMMAND INFO get: first key 1');
    is($get->[4], 1, 'COMMAND INFO get: last key 1');
    is($get->[5], 1, 'COMMAND INFO get: step 1');
    my $mset = resp_cmd($cs, 'COMMAND', 'INFO', 'mset', 'nosuchcmd');
    is_deeply([ @{ $mset->[0] }[ 0, 1, 3, 4, 5 ] ], [ 'mset', -3, 1, -1, 2 ], 'COMMAND INFO mset');
    is($mset->[1], undef, 'COMMAND INFO of an unknown command: nil');
    my $list = resp_cmd($cs, 'COMMAND');
    is(scalar @$list, $n, 'COMMAND lists COMMAND COUNT entries');
}

# INFO: cordis's sections plus the keyspace summed over both groups.
{
    my $keys0 = redis_cmd($r1->{port}, 'DBSIZE') + redis_cmd($r2->{port}, 'DBSIZE');
    ok(redis_cmd($r1->{port}, 'DBSIZE') > 0 && redis_cmd($r2->{port}, 'DBSIZE') > 0,
       'both groups hold keys');
    my $info = resp_cmd($cs, 'INFO');
    ok(!ref $info, 'INFO answers a bulk string');
    like($info, qr/^# Keyspace\r$/m, 'INFO has # Keyspace');
    like($info, qr/^# Server\r$/m, 'INFO has # Server');
    my ($n) = $info =~ /^db0:keys=(\d+),/m;
    is($n, $keys0, "INFO db0 keys is the sum over both groups ($keys0)");
    my ($n3) = $info =~ /^db3:keys=(\d+),/m;
    my $b3 = 0;
    for my $p ($r1->{port}, $r2->{port}) {
        my $b = resp_connect($p);
        resp_cmd($b, 'SELECT', 3);
        $b3 += resp_cmd($b, 'DBSIZE');
        close $b;
    }
    is($n3, $b3, "INFO db3 keys summed too ($b3)");
    my $ks = resp_cmd($cs, 'INFO', 'keyspace');
    like($ks, qr/^# Keyspace\r\ndb0:keys=$keys0,/, 'INFO keyspace: only the keyspace');
    unlike($ks, qr/# Server/, 'INFO keyspace: no server section');
}

# AUTH configured: NOAUTH before, WRONGPASS on a bad password, OK after.
{
    # (start_redis waits for +PONG, so the password is set once it is up)
    my $aref = start_redis();
    is(redis_cmd($aref->{port}, 'CONFIG', 'SET', 'requirepass', 's3cret'), 'OK', 'reference requires a password');
    my $aconf = write_conf(
        name   => 'auth.conf',
        groups => [ [ 1, "127.0.0.1:$r1->{port}" ], [ 2, "127.0.0.1:$r2->{port}" ] ],
        slots  => [ [ '0-511', 1 ], [ '512-1023', 2 ] ],
        session => { auth => 's3cret' },
        log    => { file => tmpdir() . '/cordis-auth.log' },
    );
    # write_conf shares the pid file name: give this one its own.
    $aconf->{text} =~ s{cordis\.pid}{cordis-auth.pid};
    $aconf->{pid_file} = tmpdir() . '/cordis-auth.pid';
    $aconf->{log} = tmpdir() . '/cordis-auth.log';
    open my $fh, '>', $aconf->{path} or die;
    print $fh $aconf->{text};
    close $fh;
    my $acordis = start_cordis($aconf);
    my $s  = resp_connect($aconf->{port});
    my $rr = resp_connect($aref->{port});
    my @seq = (
        [ 'GET', 'k' ], [ 'PING' ], [ 'SET', 'auth:k', 'v' ], [ 'SELECT', 1 ], [ 'CLIENT', 'ID' ],
        [ 'HELLO', 2 ],
        [ 'AUTH', 'wrong' ], [ 'AUTH', 'default', 'wrong' ], [ 'AUTH', 'nobody', 's3cret' ],
        [ 'GET', 'k' ], [ 'AUTH', 's3cret' ], [ 'PING' ], [ 'AUTH', 'default', 's3cret' ],
    );
    for my $cmd (@seq) {
        my $got = resp_cmd($s, @$cmd);
        my $want = resp_cmd($rr, @$cmd);
        is_deeply($got, $want, "auth: @$cmd") or diag explain { cordis => $got, redis => $want };
    }
    is(resp_cmd($s, 'SET', 'auth:k', 'v'), 'OK', 'auth: SET after AUTH');
    is(resp_cmd($s, 'GET', 'auth:k'), 'v', 'auth: GET after AUTH');
    is_deeply(resp_cmd($s, 'AUTH', 'bad'),
              { err => 'WRONGPASS invalid username-password pair or user is disabled.' },
              'auth: WRONGPASS text');
    my $s2 = resp_connect($aconf->{port});
    is_deeply(resp_cmd($s2, 'GET', 'auth:k'), { err => 'NOAUTH Authentication required.' }, 'auth: NOAUTH text');
    my $h = resp_cmd($s2, 'HELLO', 2, 'AUTH', 'default', 's3cret');
    is(ref $h eq 'ARRAY' && scalar @$h, 14, 'auth: HELLO 2 AUTH default s3cret authenticates');
    is(resp_cmd($s2, 'GET', 'auth:k'), 'v', 'auth: GET after HELLO AUTH');
    close $s2;
    stop_cordis($acordis);
    log_is_clean($acordis);
    stop_redis($aref);
}

# QUIT: +OK, then the connection closes; what was pipelined after it is not run.
{
    my $k = key_in_group('quit', 1);
    my $s = resp_connect($conf->{port});
    print $s "*1\r\n\$4\r\nQUIT\r\n*3\r\n\$3\r\nSET\r\n\$" . length($k) . "\r\n$k\r\n\$1\r\n1\r\n";
    is(resp_read($s), 'OK', 'QUIT answers +OK');
    is(resp_read_or_closed($s, 5), 'closed', 'connection closed after QUIT');
    close $s;
    is(redis_cmd(backend_of($k), 'EXISTS', $k), 0, 'command pipelined after QUIT was not executed');
    is(resp_cmd($cs, 'EXISTS', $k), 0, 'and cordis agrees');

    # QUIT after pending forwarded requests: their replies come first.
    $s = resp_connect($conf->{port});
    my $k2 = key_in_group('quit', 2);
    print $s "*3\r\n\$3\r\nSET\r\n\$" . length($k2) . "\r\n$k2\r\n\$1\r\n2\r\n"
           . "*2\r\n\$3\r\nGET\r\n\$" . length($k2) . "\r\n$k2\r\n*1\r\n\$4\r\nQUIT\r\n";
    is(resp_read($s), 'OK', 'SET before QUIT answered');
    is(resp_read($s), '2', 'GET before QUIT answered');
    is(resp_read($s), 'OK', 'then QUIT');
    is(resp_read_or_closed($s, 5), 'closed', 'then the close');
    close $s;
}

# --- the refused list: the binary, README and cordis(8) agree -----------------

{
    my $s = resp_connect($conf->{port});
    my $docs = resp_cmd($s, 'COMMAND', 'DOCS');
    my %refused;
    my $walk;
    $walk = sub {
        my ($list) = @_;
        for (my $i = 0; $i < @$list; $i += 2) {
            my ($name, %doc) = ($list->[$i], @{ $list->[$i + 1] });
            (my $shown = uc $name) =~ s/\|/ /;
            $refused{$shown} = $doc{cordis} if ($doc{cordis} // '') =~ /^refused: /;
            $walk->($doc{subcommands}) if $doc{subcommands};
        }
    };
    $walk->($docs);
    ok(keys %refused >= 20, 'COMMAND DOCS marks the refused commands (' . scalar(keys %refused) . ')');
    my $src = $ENV{CORDIS_SRCDIR} || "$FindBin::Bin/..";
    my ($readme) = read_file("$src/README") =~ /^Refused, each for a reason.*?\n\n(.*?)\n\n/ms;
    my ($man) = read_file("$src/doc/cordis.8") =~ /^\.B refused\n(.*?)\n\.(?:SH|TP)/ms;
    ok($readme && $man, 'README and cordis(8) have a refused list');
    my (@not_readme, @not_man);
    for my $cmd (sort keys %refused) {
        my ($container, $sub) = split / /, $cmd;
        next if $sub && exists $refused{$container};   # the whole container is refused
        my $word = $sub // $container;
        # A subcommand is listed on its container's line.
        push @not_readme, $cmd unless ($readme // '') =~ /^\s*\Q$container\E\b.*\b\Q$word\E\b/m
                                  || (!$sub && ($readme // '') =~ /\b\Q$cmd\E\b/);
        (my $man_text = $man // '') =~ s/\\-/-/g;
        push @not_man, $cmd unless $man_text =~ /\b\Q$word\E\b/;
    }
    is_deeply(\@not_readme, [], 'every refused command is in the README');
    is_deeply(\@not_man, [], 'every refused command is in cordis(8)');
    # Each row of the README's list starts with a refused command, or with a
    # container some of whose subcommands are refused.
    my @named = grep { my $c = $_; !exists $refused{$c} && !grep { /^\Q$c\E / } keys %refused }
                ($readme // '') =~ /^    ([A-Z][A-Z-]+)(?= )/mg;
    is_deeply(\@named, [], 'the README refuses nothing cordis serves');
    close $s;
}

is(resp_cmd($cs, 'PING'), 'PONG', 'the main client is still fine');
close $cs;
close $rs;
stop_cordis($cordis);
log_is_clean($cordis);
done_testing();
