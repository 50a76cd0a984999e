#!/usr/bin/perl
# Every command of the installed Redis 7.0 is answered by cordis: forwarded
# (the reply exactly Redis's), fanned out, answered locally, or refused from
# a short list.
#
# The list of commands and subcommands comes from a private redis-server's
# COMMAND; the test has one example invocation (or a few) for each, and fails
# when Redis lists a command the table has no example for. Each example runs
# in two setups, each on fresh, identical datasets:
#   a. one group (slots 0-1023) beside a reference redis-server;
#   b. three groups (0-340, 341-681, 682-1023) beside a reference.
# Keys carry the hash tag {t}, so multi-key examples stay in one slot and
# every forwarded reply must be byte for byte the reference's (a few
# nondeterministic or server-specific commands: the reply type only). Local
# commands must not fail where Redis does not; refused commands answer
# cordis's fixed error, and only the short lists below are refused or
# pinned (pinned ones answer as the reference does). In setup b, every same_group command is sent again with keys in
# two groups (CROSSSLOT, nothing changed) and every split command with keys
# in all three (the merged answer is the reference's); then KEYS, DBSIZE and
# SCAN through cordis against the union of the backends and the reference.
# After each part, the datasets of the backends and the reference are
# compared key by key (and every key must sit on its slot's backend).
use strict;
use warnings;

use Digest::SHA qw(sha1_hex);
use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time);

use CordisTest;

plan tests => 36;
$SIG{__DIE__} = sub { print STDOUT "# died: $_[0]" unless $^S; };

# Watchdog: a hung test fails (and its processes are stopped) instead of hanging.
$SIG{ALRM} = sub { die "test timed out\n" };
Time::HiRes::alarm(150);
$SIG{PIPE} = 'IGNORE';
my $t_begin = time;

# --- the short lists -------------------------------------------------------------

# Refused: "-ERR command 'NAME' is not supported by cordis: <reason>".
my @REFUSED = (qw(shutdown monitor debug swapdb failover slaveof replicaof sync psync
                  replconf asking readonly readwrite restore-asking migrate script|debug
                  client|pause client|unpause client|tracking client|trackinginfo
                  client|caching client|getredir), 'cluster|*');
# Pinned (transactions, blocking commands, pub/sub): handled by cordis's
# pinned and pub/sub code; their replies are compared with the reference's
# like any forwarded command's.
my @PINNED = qw(multi exec discard watch unwatch wait blpop brpop brpoplpush blmove blmpop
                bzpopmin bzpopmax bzmpop subscribe unsubscribe psubscribe punsubscribe
                ssubscribe sunsubscribe publish spublish);
my %PINNED = map { $_ => 1 } @PINNED;
sub is_refused_name { my ($n) = @_; return $n =~ /^cluster\|/ || grep { $_ eq $n } @REFUSED }

my $CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";

# --- a RESP client that keeps the reply's bytes and types ------------------------------

sub conn_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp', Timeout => 5)
        or die "connect 127.0.0.1:$port: $!";
    binmode $s;
    return { s => $s, buf => '', port => $port };
}

# One reply off the front of $$buf from $pos: ([type, value], end) or () when
# incomplete. Values: strings for + - $ (undef for nil), numbers for :, and
# array refs of [type, value] for * (undef for a nil array).
sub parse_reply {
    my ($buf, $pos) = @_;
    my $eol = index($$buf, "\r\n", $pos);
    return if $eol < 0;
    my ($t, $rest) = (substr($$buf, $pos, 1), substr($$buf, $pos + 1, $eol - $pos - 1));
    my $p = $eol + 2;
    return ([ $t, $rest ], $p) if $t eq '+' || $t eq '-';
    return ([ $t, 0 + $rest ], $p) if $t eq ':';
    if ($t eq '$') {
        return ([ '$', undef ], $p) if $rest < 0;
        return if length($$buf) < $p + $rest + 2;
        return ([ '$', substr($$buf, $p, $rest) ], $p + $rest + 2);
    }
    if ($t eq '*') {
        return ([ '*', undef ], $p) if $rest < 0;
        my @e;
        for (1 .. $rest) {
            my ($e, $np) = parse_reply($buf, $p);
            return unless $e;
            push @e, $e;
            $p = $np;
        }
        return ([ '*', \@e ], $p);
    }
    die "bad reply line: $t$rest\n";
}

sub conn_send {
    my ($c, @args) = @_;
    my $bytes = resp_encode(@args);
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($c->{s}, $bytes, length($bytes) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

# ([type, value], raw bytes), or (['closed'], '') / (['timeout'], '').
sub conn_read {
    my ($c, $timeout) = @_;
    my $end = time + ($timeout // 10);
    my $sel = IO::Select->new($c->{s});
    while (1) {
        my ($r, $len) = parse_reply(\$c->{buf}, 0);
        return ($r, substr($c->{buf}, 0, $len, '')) if $r;
        my $left = $end - time;
        return ([ 'timeout' ], '') if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($c->{s}, $c->{buf}, 1 << 16, length $c->{buf});
        return ([ 'closed' ], '') unless $n;
    }
}

sub conn_cmd {
    my ($c, @args) = @_;
    conn_send($c, @args) or return ([ 'closed' ], '');
    return conn_read($c);
}

# A reply as short text for diagnostics.
sub show {
    my ($r, $max) = @_;
    $max //= 160;
    my $text;
    if (!defined $r->[1] && $r->[0] =~ /^[\$*]$/) {
        $text = 'nil';
    } elsif ($r->[0] eq '*') {
        $text = '[' . join(', ', map { show($_, 60) } @{ $r->[1] }) . ']';
    } elsif ($r->[0] =~ /^(closed|timeout)$/) {
        $text = "($r->[0])";
    } else {
        ($text = "$r->[0]$r->[1]") =~ s/[^ -~]/./g;
    }
    $text = substr($text, 0, $max) . '...' if length $text > $max;
    return $text;
}

sub is_err { return $_[0][0] eq '-' }
sub lost   { return $_[0][0] eq 'closed' || $_[0][0] eq 'timeout' }

# A reply as text with the elements of every array sorted.
sub unordered_text {
    my ($r) = @_;
    return "$r->[0]" . ($r->[1] // 'nil') unless $r->[0] eq '*' && defined $r->[1];
    return '*[' . join(',', sort map { unordered_text($_) } @{ $r->[1] }) . ']';
}

# Bytes as printable text, without loss.
sub esc { (my $t = $_[0]) =~ s/([^ -~])/sprintf('\\x%02x', ord $1)/ge; return $t }

# The values of an array reply of strings, sorted.
sub sorted_strings {
    my ($r) = @_;
    return undef unless $r->[0] eq '*' && defined $r->[1];
    return [ sort map { $_->[1] // '' } @{ $r->[1] } ];
}

# --- the live command list -------------------------------------------------------------

# name ('get', 'client|list') => 1, and the containers.
sub redis_commands {
    my ($port) = @_;
    my $c = conn_open($port);
    my ($r) = conn_cmd($c, 'COMMAND');
    close $c->{s};
    die "COMMAND: " . show($r) . "\n" unless $r->[0] eq '*';
    my (%cmds, %containers);
    for my $e (@{ $r->[1] }) {
        my $name = $e->[1][0][1];
        my $subs = $e->[1][9];
        if ($subs && $subs->[0] eq '*' && @{ $subs->[1] }) {
            $containers{$name} = 1;
            $cmds{ $_->[1][0][1] } = 1 for @{ $subs->[1] };
        } else {
            $cmds{$name} = 1;
        }
    }
    return (\%cmds, \%containers);
}

# --- the examples -----------------------------------------------------------------------
#
# Rows run in order on cordis and on the reference (refused and pinned
# commands on cordis only: they must not reach a Redis server). The name of
# a row's command is its first word, or "container|sub". A row is [argv...]
# or [{options}, argv...]. Options:
#   shape       only the reply type must match (nondeterministic or
#               server-specific replies)
#   sorted      an array compared sorted
#   unordered   every array's elements compared as a set, at every depth
#   near => n   integers within n
#   err         the reference answers an error: still a valid example
#   save => k   keep the reference's reply as $saved{k} for a later row
#   fresh       on new connections to both (QUIT)
#   scan        iterate the cursor to 0 on both sides; compare the sets
# An argument can be a code ref, called when the row runs.

my %saved;
my $NODE = 'e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca';
my $S_GET = "return redis.call('get', KEYS[1])";
my $S_LEN = "return redis.call('strlen', KEYS[1])";
my $S_LOAD = "return 'loaded'";
my $LIB = "#!lua name=cordislib\n"
        . "redis.register_function('cget', function(keys, args) return redis.call('get', keys[1]) end)\n"
        . "redis.register_function{function_name='cro', callback=function(keys, args) "
        . "return redis.call('strlen', keys[1]) end, flags={'no-writes'}}\n";

my @MAIN = (
    # strings
    [ 'SET', '{t}s', 'hello' ],
    [ 'GET', '{t}s' ],
    [ 'APPEND', '{t}s', ' world' ],
    [ 'STRLEN', '{t}s' ],
    [ 'GETRANGE', '{t}s', 0, 4 ],
    [ 'SUBSTR', '{t}s', 6, -1 ],
    [ 'SETRANGE', '{t}s', 6, 'WORLD' ],
    [ 'SETNX', '{t}s', 'x' ],
    [ 'GETSET', '{t}s', 'hello world' ],
    [ 'MSET', '{t}m1', 'a', '{t}m2', 'b' ],
    [ 'MGET', '{t}m1', '{t}m2', '{t}nokey' ],
    [ 'MSETNX', '{t}m3', 'c', '{t}m4', 'd' ],
    [ 'INCR', '{t}num' ],
    [ 'INCRBY', '{t}num', 5 ],
    [ 'DECR', '{t}num' ],
    [ 'DECRBY', '{t}num', 3 ],
    [ 'INCRBYFLOAT', '{t}float', '0.25' ],
    [ 'SETEX', '{t}ex', 1000, 'v' ],
    [ 'PSETEX', '{t}pex', 1000000, 'v' ],
    [ 'GETEX', '{t}ex', 'PERSIST' ],
    [ 'GETDEL', '{t}m4' ],
    [ 'LCS', '{t}str', '{t}str2' ],
    [ 'LCS', '{t}str', '{t}str2', 'IDX', 'MINMATCHLEN', 2, 'WITHMATCHLEN' ],
    # keys and expiry
    [ 'EXISTS', '{t}s', '{t}m1', '{t}nokey', '{t}s' ],
    [ 'TYPE', '{t}list' ],
    [ 'EXPIRE', '{t}s', 1000 ],
    [ 'TTL', '{t}s' ],
    [ { near => 2000 }, 'PTTL', '{t}s' ],
    [ 'EXPIREAT', '{t}m1', 4102444800 ],
    [ 'EXPIRETIME', '{t}m1' ],
    [ 'PEXPIRE', '{t}m2', 1000000 ],
    [ 'PEXPIREAT', '{t}m3', 4102444800123 ],
    [ 'PEXPIRETIME', '{t}m3' ],
    [ 'PERSIST', '{t}m3' ],
    [ 'TOUCH', '{t}s', '{t}m1', '{t}nokey' ],
    [ 'RENAME', '{t}m1', '{t}m1r' ],
    [ 'RENAMENX', '{t}m2', '{t}m1r' ],
    [ 'COPY', '{t}str', '{t}strcopy' ],
    [ 'COPY', '{t}str', '{t}strcopy', 'DB', 1 ],
    [ 'MOVE', '{t}strcopy', 2 ],
    [ { save => 'dump' }, 'DUMP', '{t}list' ],
    [ 'RESTORE', '{t}restored', 0, sub { $saved{dump} } ],
    [ 'LRANGE', '{t}restored', 0, -1 ],
    [ 'OBJECT', 'ENCODING', '{t}list' ],
    [ { err => 1 }, 'OBJECT', 'FREQ', '{t}str' ],
    [ { near => 2 }, 'OBJECT', 'IDLETIME', '{t}str' ],
    [ 'OBJECT', 'REFCOUNT', '{t}str' ],
    [ 'OBJECT', 'HELP' ],
    [ 'DEL', '{t}m3', '{t}nokey' ],
    [ 'UNLINK', '{t}restored', '{t}nokey' ],
    [ { sorted => 1 }, 'KEYS', '{t}s*' ],
    [ { sorted => 1 }, 'KEYS', '*' ],
    [ 'DBSIZE' ],
    [ { shape => 1 }, 'RANDOMKEY' ],
    [ { scan => 1 }, 'SCAN', 0, 'COUNT', 7 ],
    [ { scan => 1 }, 'SCAN', 0, 'MATCH', '{t}s*', 'TYPE', 'string' ],
    [ 'SELECT', 1 ],
    [ 'GET', '{t}strcopy' ],
    [ 'SELECT', 2 ],
    [ 'GET', '{t}strcopy' ],
    [ 'SET', '{t}f', 1 ],
    [ 'FLUSHDB' ],
    [ 'DBSIZE' ],
    [ 'SELECT', 0 ],
    # sort
    [ 'SORT', '{t}list' ],
    [ 'SORT', '{t}list', 'DESC', 'LIMIT', 0, 3 ],
    [ 'SORT', '{t}list2', 'ALPHA', 'STORE', '{t}sorted' ],
    [ 'SORT', '{t}list', 'BY', '{t}w_*', 'GET', '#', 'GET', '{t}g_*' ],
    [ 'SORT_RO', '{t}list', 'DESC' ],
    # lists
    [ 'LPUSH', '{t}l', 'c', 'b', 'a' ],
    [ 'RPUSH', '{t}l', 'd', 'e' ],
    [ 'LPUSHX', '{t}l', 'z' ],
    [ 'RPUSHX', '{t}nolist', 'z' ],
    [ 'LLEN', '{t}l' ],
    [ 'LRANGE', '{t}l', 0, -1 ],
    [ 'LINDEX', '{t}l', 2 ],
    [ 'LINSERT', '{t}l', 'BEFORE', 'c', 'bb' ],
    [ 'LSET', '{t}l', 0, 'Z' ],
    [ 'LPOS', '{t}l', 'c' ],
    [ 'LREM', '{t}l', 1, 'bb' ],
    [ 'LPOP', '{t}l' ],
    [ 'RPOP', '{t}l', 2 ],
    [ 'LTRIM', '{t}l', 0, 1 ],
    [ 'LMOVE', '{t}l', '{t}l2', 'LEFT', 'RIGHT' ],
    [ 'RPOPLPUSH', '{t}l', '{t}l2' ],
    [ 'LMPOP', 2, '{t}nolist', '{t}list2', 'LEFT', 'COUNT', 2 ],
    [ 'LRANGE', '{t}l2', 0, -1 ],
    # blocking (pinned; the lists are not empty)
    [ 'BLPOP', '{t}list2', 1 ],
    [ 'BRPOP', '{t}list2', 1 ],
    [ 'BRPOPLPUSH', '{t}list2', '{t}l3', 1 ],
    [ 'BLMOVE', '{t}list2', '{t}l3', 'LEFT', 'LEFT', 1 ],
    [ 'BLMPOP', 1, 1, '{t}list2', 'LEFT' ],
    [ 'BZPOPMIN', '{t}zset', 1 ],
    [ 'BZPOPMAX', '{t}zset', 1 ],
    [ 'BZMPOP', 1, 1, '{t}zset', 'MIN' ],
    # hashes
    [ 'HSET', '{t}h', 'a', 1, 'b', 2 ],
    [ 'HSETNX', '{t}h', 'a', 'x' ],
    [ 'HMSET', '{t}h', 'c', 3 ],
    [ 'HGET', '{t}h', 'a' ],
    [ 'HMGET', '{t}h', 'a', 'nope', 'c' ],
    [ 'HGETALL', '{t}h' ],
    [ 'HKEYS', '{t}h' ],
    [ 'HVALS', '{t}h' ],
    [ 'HLEN', '{t}h' ],
    [ 'HEXISTS', '{t}h', 'b' ],
    [ 'HSTRLEN', '{t}h', 'c' ],
    [ 'HINCRBY', '{t}h', 'a', 10 ],
    [ 'HINCRBYFLOAT', '{t}h', 'b', '0.5' ],
    [ 'HDEL', '{t}h', 'c', 'nope' ],
    [ 'HRANDFIELD', '{t}h', 5, 'WITHVALUES' ],
    [ 'HRANDFIELD', '{t}hash1' ],
    [ 'HSCAN', '{t}h', 0 ],
    # sets (of integers: intsets, whose order is the same on every server)
    [ 'SADD', '{t}s1', 1, 2, 3, 4 ],
    [ 'SADD', '{t}s2', 3, 4, 5 ],
    [ 'SCARD', '{t}s1' ],
    [ 'SISMEMBER', '{t}s1', 2 ],
    [ 'SMISMEMBER', '{t}s1', 2, 9 ],
    [ 'SMEMBERS', '{t}s1' ],
    [ 'SINTER', '{t}s1', '{t}s2' ],
    [ 'SINTERCARD', 2, '{t}s1', '{t}s2' ],
    [ 'SINTERSTORE', '{t}s3', '{t}s1', '{t}s2' ],
    [ 'SUNION', '{t}s1', '{t}s2' ],
    [ 'SUNIONSTORE', '{t}s4', '{t}s1', '{t}s2' ],
    [ 'SDIFF', '{t}s1', '{t}s2' ],
    [ 'SDIFFSTORE', '{t}s5', '{t}s1', '{t}s2' ],
    [ 'SMOVE', '{t}s1', '{t}s2', 1 ],
    [ 'SREM', '{t}s1', 2 ],
    [ 'SRANDMEMBER', '{t}s4', 10 ],
    [ 'SRANDMEMBER', '{t}set1' ],
    [ 'SPOP', '{t}set1' ],
    [ 'SPOP', '{t}s5', 10 ],
    [ 'SSCAN', '{t}s4', 0 ],
    # sorted sets
    [ 'ZADD', '{t}z', 1, 'a', 2, 'b', 3, 'c' ],
    [ 'ZADD', '{t}z', 'XX', 'CH', 5, 'c' ],
    [ 'ZINCRBY', '{t}z', '0.5', 'a' ],
    [ 'ZSCORE', '{t}z', 'a' ],
    [ 'ZMSCORE', '{t}z', 'a', 'nope' ],
    [ 'ZCARD', '{t}z' ],
    [ 'ZCOUNT', '{t}z', 1, 3 ],
    [ 'ZRANK', '{t}z', 'b' ],
    [ 'ZREVRANK', '{t}z', 'b' ],
    [ 'ZRANGE', '{t}z', 0, -1, 'WITHSCORES' ],
    [ 'ZRANGE', '{t}z', '(1', '+inf', 'BYSCORE', 'LIMIT', 0, 2 ],
    [ 'ZREVRANGE', '{t}z', 0, 1 ],
    [ 'ZRANGEBYSCORE', '{t}z', '-inf', '+inf', 'WITHSCORES' ],
    [ 'ZREVRANGEBYSCORE', '{t}z', '+inf', 2 ],
    [ 'ZLEXCOUNT', '{t}zlex', '[b', '[d' ],
    [ 'ZRANGEBYLEX', '{t}zlex', '[b', '(e' ],
    [ 'ZREVRANGEBYLEX', '{t}zlex', '+', '[c' ],
    [ 'ZRANGESTORE', '{t}zst', '{t}z', 0, 1 ],
    [ 'ZUNION', 2, '{t}zset', '{t}zset2', 'WITHSCORES' ],
    [ 'ZUNIONSTORE', '{t}zu', 2, '{t}zset', '{t}zset2', 'WEIGHTS', 1, 2 ],
    [ 'ZINTER', 2, '{t}zset', '{t}zset2' ],
    [ 'ZINTERSTORE', '{t}zi', 2, '{t}zset', '{t}zset2' ],
    [ 'ZINTERCARD', 2, '{t}zset', '{t}zset2' ],
    [ 'ZDIFF', 2, '{t}zset', '{t}zset2', 'WITHSCORES' ],
    [ 'ZDIFFSTORE', '{t}zd', 2, '{t}zset', '{t}zset2' ],
    [ 'ZRANDMEMBER', '{t}zset', 10, 'WITHSCORES' ],
    [ 'ZRANDMEMBER', '{t}zone' ],
    [ 'ZPOPMIN', '{t}z' ],
    [ 'ZPOPMAX', '{t}z', 1 ],
    [ 'ZMPOP', 1, '{t}zu', 'MIN', 'COUNT', 2 ],
    [ 'ZREM', '{t}z', 'b', 'nope' ],
    [ 'ZREMRANGEBYRANK', '{t}zu', 0, 0 ],
    [ 'ZREMRANGEBYSCORE', '{t}zi', '-inf', 2 ],
    [ 'ZREMRANGEBYLEX', '{t}zlex', '[a', '[b' ],
    [ 'ZSCAN', '{t}zset', 0 ],
    # bitmaps
    [ 'SETBIT', '{t}b', 7, 1 ],
    [ 'GETBIT', '{t}b', 7 ],
    [ 'BITCOUNT', '{t}bits' ],
    [ 'BITCOUNT', '{t}bits', 1, 1 ],
    [ 'BITPOS', '{t}b', 1 ],
    [ 'BITOP', 'AND', '{t}bop', '{t}bits', '{t}bits2' ],
    [ 'GET', '{t}bop' ],
    [ 'BITFIELD', '{t}bf', 'INCRBY', 'u8', 0, 200, 'GET', 'u4', 0 ],
    [ 'BITFIELD_RO', '{t}bf', 'GET', 'u8', 0 ],
    # hyperloglog
    [ 'PFADD', '{t}h1', 'a', 'b', 'c' ],
    [ 'PFCOUNT', '{t}h1' ],
    [ 'PFCOUNT', '{t}hll', '{t}hll2' ],
    [ 'PFMERGE', '{t}hm', '{t}hll', '{t}hll2' ],
    [ 'PFDEBUG', 'ENCODING', '{t}h1' ],
    [ 'PFSELFTEST' ],
    # geo
    [ 'GEOADD', '{t}g', '13.361389', '38.115556', 'Palermo', '15.087269', '37.502669', 'Catania' ],
    [ 'GEODIST', '{t}g', 'Palermo', 'Catania', 'km' ],
    [ 'GEOHASH', '{t}g', 'Palermo', 'Catania' ],
    [ 'GEOPOS', '{t}g', 'Palermo', 'nope' ],
    [ 'GEORADIUS', '{t}g', 15, 37, 200, 'km', 'WITHDIST', 'ASC' ],
    [ 'GEORADIUS', '{t}g', 15, 37, 200, 'km', 'STORE', '{t}gstore' ],
    [ 'GEORADIUS_RO', '{t}g', 15, 37, 200, 'km', 'WITHCOORD', 'ASC' ],
    [ 'GEORADIUSBYMEMBER', '{t}g', 'Palermo', 200, 'km', 'ASC' ],
    [ 'GEORADIUSBYMEMBER_RO', '{t}g', 'Palermo', 200, 'km', 'WITHDIST', 'ASC' ],
    [ 'GEOSEARCH', '{t}g', 'FROMLONLAT', 15, 37, 'BYRADIUS', 200, 'km', 'ASC', 'WITHCOORD' ],
    [ 'GEOSEARCHSTORE', '{t}gs', '{t}g', 'FROMMEMBER', 'Palermo', 'BYBOX', 400, 400, 'km', 'ASC' ],
    # streams (explicit ids: the same on every server)
    [ 'XADD', '{t}x', '1-1', 'f', 'v1' ],
    [ 'XADD', '{t}x', '1-2', 'f', 'v2' ],
    [ 'XADD', '{t}x', '2-1', 'g', 'w' ],
    [ 'XLEN', '{t}x' ],
    [ 'XRANGE', '{t}x', '-', '+' ],
    [ 'XREVRANGE', '{t}x', '+', '-', 'COUNT', 2 ],
    [ 'XGROUP', 'CREATE', '{t}x', 'g1', '0' ],
    [ 'XGROUP', 'CREATE', '{t}x', 'g2', '0' ],
    [ 'XGROUP', 'CREATECONSUMER', '{t}x', 'g1', 'c0' ],
    [ 'XREADGROUP', 'GROUP', 'g1', 'c1', 'COUNT', 2, 'STREAMS', '{t}x', '>' ],
    [ 'XREAD', 'COUNT', 2, 'STREAMS', '{t}x', '{t}stream', '0-0', '0-0' ],
    [ 'XPENDING', '{t}x', 'g1' ],
    [ 'XACK', '{t}x', 'g1', '1-1' ],
    [ 'XCLAIM', '{t}x', 'g1', 'c2', 0, '1-2' ],
    [ 'XAUTOCLAIM', '{t}x', 'g1', 'c3', 0, '0-0', 'COUNT', 10, 'JUSTID' ],
    [ 'XINFO', 'GROUPS', '{t}x' ],
    [ 'XINFO', 'STREAM', '{t}x' ],
    [ { shape => 1 }, 'XINFO', 'CONSUMERS', '{t}x', 'g1' ],
    [ 'XINFO', 'HELP' ],
    [ 'XGROUP', 'SETID', '{t}x', 'g2', '1-2' ],
    [ 'XGROUP', 'DELCONSUMER', '{t}x', 'g1', 'c0' ],
    [ 'XGROUP', 'DESTROY', '{t}x', 'g2' ],
    [ 'XGROUP', 'HELP' ],
    [ 'XDEL', '{t}x', '2-1' ],
    [ 'XTRIM', '{t}x', 'MAXLEN', 1 ],
    [ 'XSETID', '{t}x', '5-0' ],
    # scripts
    [ 'EVAL', $S_GET, 1, '{t}str' ],
    [ 'EVALSHA', sha1_hex($S_GET), 1, '{t}str' ],
    [ 'EVAL_RO', $S_LEN, 1, '{t}str' ],
    [ 'EVALSHA_RO', sha1_hex($S_LEN), 1, '{t}str' ],
    [ 'EVAL', 'return ARGV[1]', 0, 'no keys' ],
    [ 'SCRIPT', 'LOAD', $S_LOAD ],
    [ 'SCRIPT', 'EXISTS', sha1_hex($S_LOAD), 'ffffffffffffffffffffffffffffffffffffffff' ],
    [ 'SCRIPT', 'EXISTS', sha1_hex($S_GET) ],
    [ { err => 1 }, 'SCRIPT', 'KILL' ],
    [ 'SCRIPT', 'HELP' ],
    [ 'SCRIPT', 'DEBUG', 'NO' ],
    [ 'SCRIPT', 'FLUSH' ],
    [ { err => 1 }, 'EVALSHA', sha1_hex($S_GET), 1, '{t}str' ],
    [ 'SCRIPT', 'EXISTS', sha1_hex($S_LOAD) ],
    # functions
    [ 'FUNCTION', 'LOAD', $LIB ],
    [ 'FCALL', 'cget', 1, '{t}str' ],
    [ 'FCALL_RO', 'cro', 1, '{t}str' ],
    # (a library's functions are listed in the order of a dict seeded at
    # random by each server)
    [ { unordered => 1 }, 'FUNCTION', 'LIST' ],
    [ { unordered => 1 }, 'FUNCTION', 'LIST', 'WITHCODE', 'LIBRARYNAME', 'cordis*' ],
    [ 'FUNCTION', 'STATS' ],
    [ { save => 'fdump' }, 'FUNCTION', 'DUMP' ],
    [ { err => 1 }, 'FUNCTION', 'KILL' ],
    [ 'FUNCTION', 'HELP' ],
    [ 'FUNCTION', 'DELETE', 'cordislib' ],
    [ 'FUNCTION', 'RESTORE', sub { $saved{fdump} } ],
    [ 'FCALL', 'cget', 1, '{t}str' ],
    [ 'FUNCTION', 'FLUSH' ],
    [ 'FUNCTION', 'LIST' ],
    # server
    [ 'CONFIG', 'GET', 'maxmemory-policy' ],
    [ 'CONFIG', 'SET', 'lfu-log-factor', 10 ],
    [ 'CONFIG', 'RESETSTAT' ],
    [ { err => 1 }, 'CONFIG', 'REWRITE' ],
    [ 'CONFIG', 'HELP' ],
    [ 'ACL', 'CAT' ],
    [ 'ACL', 'SETUSER', 'cordis-t27', 'on', '>secret', '~{t}*', '+get' ],
    [ 'ACL', 'GETUSER', 'cordis-t27' ],
    [ 'ACL', 'LIST' ],
    [ 'ACL', 'USERS' ],
    [ 'ACL', 'WHOAMI' ],
    [ 'ACL', 'DRYRUN', 'cordis-t27', 'GET', '{t}str' ],
    [ { shape => 1 }, 'ACL', 'GENPASS' ],
    [ 'ACL', 'LOG' ],
    [ { err => 1 }, 'ACL', 'SAVE' ],
    [ { err => 1 }, 'ACL', 'LOAD' ],
    [ 'ACL', 'HELP' ],
    [ 'ACL', 'DELUSER', 'cordis-t27' ],
    [ 'SLOWLOG', 'RESET' ],
    [ 'SLOWLOG', 'LEN' ],
    [ 'SLOWLOG', 'GET' ],
    [ 'SLOWLOG', 'HELP' ],
    [ 'LATENCY', 'DOCTOR' ],
    [ { err => 1 }, 'LATENCY', 'GRAPH', 'command' ],
    [ { shape => 1 }, 'LATENCY', 'HISTOGRAM', 'set' ],
    [ 'LATENCY', 'HISTORY', 'command' ],
    [ 'LATENCY', 'LATEST' ],
    [ 'LATENCY', 'RESET' ],
    [ 'LATENCY', 'HELP' ],
    [ { shape => 1 }, 'MEMORY', 'DOCTOR' ],
    [ { shape => 1 }, 'MEMORY', 'MALLOC-STATS' ],
    [ 'MEMORY', 'PURGE' ],
    [ { shape => 1 }, 'MEMORY', 'STATS' ],
    [ { shape => 1 }, 'MEMORY', 'USAGE', '{t}str' ],
    [ 'MEMORY', 'HELP' ],
    [ 'MODULE', 'LIST' ],
    [ { err => 1 }, 'MODULE', 'LOAD', '/nonexistent/cordis-t27.so' ],
    [ { err => 1 }, 'MODULE', 'LOADEX', '/nonexistent/cordis-t27.so', 'CONFIG', 'a', 'b' ],
    [ { err => 1 }, 'MODULE', 'UNLOAD', 'cordis-t27' ],
    [ 'MODULE', 'HELP' ],
    [ { shape => 1 }, 'TIME' ],
    [ { shape => 1 }, 'LASTSAVE' ],
    [ { shape => 1 }, 'LOLWUT' ],
    # connection (answered by cordis)
    [ 'PING' ],
    [ 'PING', 'hi' ],
    [ 'ECHO', 'hey' ],
    [ 'AUTH', 'default', 'any' ],
    [ 'HELLO', 2 ],
    [ 'ROLE' ],
    [ 'INFO', 'server' ],
    [ 'CLIENT', 'SETNAME', 'cordis-t27' ],
    [ 'CLIENT', 'GETNAME' ],
    [ 'CLIENT', 'ID' ],
    [ 'CLIENT', 'INFO' ],
    [ 'CLIENT', 'LIST' ],
    [ 'CLIENT', 'KILL', 'ID', 999999999 ],
    [ 'CLIENT', 'NO-EVICT', 'ON' ],
    [ 'CLIENT', 'REPLY', 'ON' ],
    [ 'CLIENT', 'UNBLOCK', 999999999 ],
    [ 'CLIENT', 'HELP' ],
    [ 'COMMAND', 'COUNT' ],
    [ 'COMMAND', 'DOCS', 'get' ],
    [ 'COMMAND', 'GETKEYS', 'MSET', 'a', 1, 'b', 2 ],
    [ 'COMMAND', 'GETKEYSANDFLAGS', 'LMOVE', 'a', 'b', 'LEFT', 'RIGHT' ],
    [ 'COMMAND', 'HELP' ],
    [ 'COMMAND', 'INFO', 'get' ],
    [ 'COMMAND', 'LIST' ],
    [ 'RESET' ],
    [ { fresh => 1 }, 'QUIT' ],
    [ 'GET', '{t}str' ],
    # refused by cordis (harmless on a backend if they ever got through)
    [ 'CLIENT', 'PAUSE', 10, 'WRITE' ],
    [ 'CLIENT', 'UNPAUSE' ],
    [ 'CLIENT', 'TRACKING', 'OFF' ],
    [ 'CLIENT', 'TRACKINGINFO' ],
    [ 'CLIENT', 'CACHING', 'YES' ],
    [ 'client', 'getredir' ],
    [ 'SHUTDOWN', 'ABORT' ],
    [ 'monitor' ],                 # (names are told upper case)
    [ 'DEBUG', 'SLEEP', 0 ],
    [ 'SWAPDB', 1, 2 ],
    [ 'FAILOVER', 'ABORT' ],
    [ 'SLAVEOF', 'NO', 'ONE' ],
    [ 'REPLICAOF', 'NO', 'ONE' ],
    [ 'SYNC' ],
    [ 'PSYNC', '?', -1 ],
    [ 'REPLCONF', 'listening-port', 6380 ],
    [ 'ASKING' ],
    [ 'READONLY' ],
    [ 'READWRITE' ],
    [ 'RESTORE-ASKING', '{t}ra', 0, sub { $saved{dump} } ],
    [ 'MIGRATE', '127.0.0.1', 1, '{t}nokey', 0, 100 ],
    (map { [ 'CLUSTER', @$_ ] }
         [ 'ADDSLOTS', 1 ], [ 'ADDSLOTSRANGE', 1, 2 ], [ 'BUMPEPOCH' ],
         [ 'COUNT-FAILURE-REPORTS', $NODE ], [ 'COUNTKEYSINSLOT', 1 ], [ 'DELSLOTS', 1 ],
         [ 'DELSLOTSRANGE', 1, 2 ], [ 'FAILOVER', 'FORCE' ], [ 'FLUSHSLOTS' ], [ 'FORGET', $NODE ],
         [ 'GETKEYSINSLOT', 1, 10 ], [ 'HELP' ], [ 'INFO' ], [ 'keySlot', 'foo' ], [ 'LINKS' ],
         [ 'MEET', '127.0.0.1', 1 ], [ 'MYID' ], [ 'NODES' ], [ 'REPLICAS', $NODE ],
         [ 'REPLICATE', $NODE ], [ 'RESET', 'SOFT' ], [ 'SAVECONFIG' ], [ 'SET-CONFIG-EPOCH', 1 ],
         [ 'SETSLOT', 1, 'STABLE' ], [ 'SHARDS' ], [ 'SLAVES', $NODE ], [ 'SLOTS' ]),
    # pinned by cordis
    [ 'MULTI' ],
    [ 'EXEC' ],
    [ { err => 1 }, 'DISCARD' ],
    [ 'WATCH', '{t}str' ],
    [ 'UNWATCH' ],
    [ 'WAIT', 0, 0 ],
    [ 'subscribe', 'ch' ],
    [ 'UNSUBSCRIBE', 'ch' ],
    [ 'PSUBSCRIBE', 'c*' ],
    [ 'PUNSUBSCRIBE', 'c*' ],
    [ 'SSUBSCRIBE', '{t}ch' ],
    [ 'SUNSUBSCRIBE', '{t}ch' ],
    [ 'PUBLISH', 'ch', 'm' ],
    [ 'SPUBLISH', '{t}ch', 'm' ],
    [ 'PUBSUB', 'CHANNELS' ],
    [ 'pubsub', 'numpat' ],
    [ 'PUBSUB', 'NUMSUB', 'ch' ],
    [ 'PUBSUB', 'SHARDCHANNELS' ],
    [ 'PUBSUB', 'SHARDNUMSUB', '{t}ch' ],
    [ 'PUBSUB', 'HELP' ],
    [ 'GET', '{t}str' ],
);

# After the datasets are compared: they empty the servers.
my @FINAL = (
    [ 'FLUSHALL' ],
    [ 'DBSIZE' ],
    [ 'KEYS', '*' ],
    [ 'SAVE' ],
    [ { shape => 1 }, 'BGSAVE' ],
    [ { shape => 1 }, 'BGREWRITEAOF' ],
);

# Setup b: every same_group command again with keys in two groups ({t} and
# {X}, another group's tag): CROSSSLOT, and nothing changes ...
my @CROSS_SAME = (
    [ 'BITOP', 'AND', '{t}bop2', '{t}bits', '{X}bits' ],
    [ 'COPY', '{t}str', '{X}strcopy' ],
    [ 'EVAL', $S_GET, 2, '{t}str', '{X}str' ],
    [ 'EVAL_RO', $S_LEN, 2, '{t}str', '{X}str' ],
    [ 'EVALSHA', sha1_hex($S_GET), 2, '{t}str', '{X}str' ],
    [ 'EVALSHA_RO', sha1_hex($S_LEN), 2, '{t}str', '{X}str' ],
    [ 'FCALL', 'cget', 2, '{t}str', '{X}str' ],
    [ 'FCALL_RO', 'cro', 2, '{t}str', '{X}str' ],
    [ 'GEORADIUS', '{t}g', 15, 37, 200, 'km', 'STORE', '{X}gstore' ],
    [ 'GEORADIUSBYMEMBER', '{t}g', 'Palermo', 200, 'km', 'STOREDIST', '{X}gstore' ],
    [ 'GEOSEARCHSTORE', '{X}gs', '{t}g', 'FROMMEMBER', 'Palermo', 'BYRADIUS', 200, 'km' ],
    [ 'LCS', '{t}str', '{X}str2' ],
    [ 'LMOVE', '{t}list', '{X}list', 'LEFT', 'RIGHT' ],
    [ 'LMPOP', 2, '{t}list', '{X}list', 'LEFT' ],
    [ 'MSETNX', '{t}new1', 'a', '{X}new1', 'b' ],
    [ 'PFCOUNT', '{t}hll', '{X}hll' ],
    [ 'PFMERGE', '{t}hm2', '{t}hll', '{X}hll' ],
    [ 'RENAME', '{t}str', '{X}str9' ],
    [ 'RENAMENX', '{t}str', '{X}str9' ],
    [ 'RPOPLPUSH', '{t}list', '{X}list' ],
    [ 'SDIFF', '{t}set', '{X}set' ],
    [ 'SDIFFSTORE', '{t}sd', '{t}set', '{X}set' ],
    [ 'SINTER', '{t}set', '{X}set' ],
    [ 'SINTERCARD', 2, '{t}set', '{X}set' ],
    [ 'SINTERSTORE', '{X}si', '{t}set', '{t}set2' ],
    [ 'SMOVE', '{t}set', '{X}set', 1 ],
    [ 'SORT', '{t}list', 'STORE', '{X}sorted' ],
    [ { expect => "CROSSSLOT SORT's BY and GET patterns must name keys of the sorted key's group: "
                  . "put a {hash tag} of that group in them" },
      'SORT_RO', '{t}list', 'BY', '{X}w_*' ],
    [ 'SUNION', '{t}set', '{X}set' ],
    [ 'SUNIONSTORE', '{t}su', '{t}set', '{X}set' ],
    [ 'XREAD', 'COUNT', 1, 'STREAMS', '{t}stream', '{X}stream', '0-0', '0-0' ],
    [ 'XREADGROUP', 'GROUP', 'grp', 'c', 'STREAMS', '{t}stream', '{X}stream', '>', '>' ],
    [ 'ZDIFF', 2, '{t}zset', '{X}zset' ],
    [ 'ZDIFFSTORE', '{t}zd2', 2, '{t}zset', '{X}zset' ],
    [ 'ZINTER', 2, '{t}zset', '{X}zset' ],
    [ 'ZINTERCARD', 2, '{t}zset', '{X}zset' ],
    [ 'ZINTERSTORE', '{X}zi2', 2, '{t}zset', '{t}zset2' ],
    [ 'ZMPOP', 2, '{t}zset', '{X}zset', 'MIN' ],
    [ 'ZRANGESTORE', '{X}zr', '{t}zset', 0, -1 ],
    [ 'ZUNION', 2, '{t}zset', '{X}zset' ],
    [ 'ZUNIONSTORE', '{t}zu2', 2, '{t}zset', '{X}zset' ],
);

# ... and every split command with keys in all three groups: the merged
# answer is the reference's.
my @CROSS_SPLIT = (
    [ 'MSET', '{t}ms', 'a', '{X}ms', 'b', '{Y}ms', 'c', '{X}ms2', 'd' ],
    [ 'MGET', '{Y}ms', '{t}ms', '{X}ms', '{t}nokey', '{X}ms2' ],
    [ 'EXISTS', '{t}ms', '{X}ms', '{Y}nokey', '{X}ms', '{Y}ms' ],
    [ 'TOUCH', '{t}ms', '{X}ms', '{Y}ms', '{Y}nokey' ],
    [ 'UNLINK', '{t}ms', '{X}ms', '{Y}nokey' ],
    [ 'DEL', '{Y}ms', '{X}str', '{t}nokey', '{X}ms2' ],
    [ 'MGET', '{Y}ms', '{t}ms', '{X}ms', '{X}ms2', '{t}str' ],
);

# The data every setup starts with, for one hash tag.
sub dataset {
    my ($T) = @_;
    return (
        [ 'SET', "{$T}str", 'hello world' ], [ 'SET', "{$T}str2", 'hello there' ],
        [ 'SET', "{$T}num", 10 ], [ 'SET', "{$T}float", '1.5' ],
        [ 'SET', "{$T}bits", 'foobar' ], [ 'SET', "{$T}bits2", 'abcdef' ],
        [ 'RPUSH', "{$T}list", 3, 1, 2, 5, 4 ], [ 'RPUSH', "{$T}list2", qw(a b c d e f) ],
        (map { [ 'SET', "{$T}w_$_", 6 - $_ ] } 1 .. 5),
        (map { [ 'SET', "{$T}g_$_", "g$_" ] } 1 .. 5),
        [ 'HSET', "{$T}hash", 'f1', 'v1', 'f2', 'v2' ], [ 'HSET', "{$T}hash1", 'only', 1 ],
        [ 'SADD', "{$T}set", 1 .. 5 ], [ 'SADD', "{$T}set2", 3 .. 7 ], [ 'SADD', "{$T}set1", 42 ],
        [ 'ZADD', "{$T}zset", 1, 'a', 2, 'b', 3, 'c', 4, 'd' ],
        [ 'ZADD', "{$T}zset2", 2, 'b', 3, 'c', 5, 'e' ], [ 'ZADD', "{$T}zone", 1, 'only' ],
        [ 'ZADD', "{$T}zlex", map { (0, $_) } qw(a b c d e) ],
        [ 'XADD', "{$T}stream", '1-1', 'f', 'v' ], [ 'XADD', "{$T}stream", '1-2', 'f', 'v2' ],
        [ 'XGROUP', 'CREATE', "{$T}stream", 'grp', '0' ],
        [ 'GEOADD', "{$T}g", '13.361389', '38.115556', 'Palermo' ],
        [ 'PFADD', "{$T}hll", qw(a b c d) ], [ 'PFADD', "{$T}hll2", qw(c d e f) ],
        [ 'SET', "{$T}vol", 'v' ], [ 'PEXPIREAT', "{$T}vol", 4102444800000 ],
    );
}

# --- the command's name of a row, and how cordis says it ---------------------------------

my ($REDIS, $CONTAINERS);

sub row_parts {
    my ($row) = @_;
    my @r = @$row;
    my $opt = ref $r[0] eq 'HASH' ? shift @r : {};
    return ($opt, @r);
}

sub row_name {
    my ($row) = @_;
    my (undef, @argv) = row_parts($row);
    my $name = lc $argv[0];
    $name .= '|' . lc $argv[1] if $CONTAINERS->{$name} && @argv > 1 && !ref $argv[1];
    return $name;
}

sub display_name { (my $d = uc $_[0]) =~ s/\|/ /; return $d }

# --- one setup -----------------------------------------------------------------------------

our @groups_of;    # [ [lo, hi], ... ] of the running setup
sub group_of_slot {
    my ($slot) = @_;
    for my $i (0 .. $#groups_of) {
        return $i if $slot >= $groups_of[$i][0] && $slot <= $groups_of[$i][1];
    }
    die "slot $slot not served";
}
sub group_of_key { group_of_slot(codis_slot($_[0])) }

# Tags of other groups than {t}'s, for the cross-group rows (three groups).
my ($XTAG, $YTAG);
{
    local @groups_of = ([ 0, 340 ], [ 341, 681 ], [ 682, 1023 ]);
    my $gt = group_of_key('{t}');
    for my $i (0 .. 10000) {
        my $g = group_of_key("{x$i}");
        $XTAG //= "x$i" if $g != $gt;
        $YTAG //= "x$i" if defined $XTAG && $g != $gt && $g != group_of_key("{$XTAG}");
        last if defined $YTAG;
    }
}

sub subst {
    my ($v) = @_;
    $v = $v->() if ref $v eq 'CODE';
    return $v unless defined $v;
    $v =~ s/\{X\}/{$XTAG}/g;
    $v =~ s/\{Y\}/{$YTAG}/g;
    return $v;
}

# The whole keyspace (dbs 0-2) of some servers: "db key" => canonical text,
# and keys found on a server that does not own their slot.
sub keyspace {
    my ($ports, $owner_check) = @_;
    my (%all, @misplaced);
    for my $i (0 .. $#$ports) {
        my $c = conn_open($ports->[$i]);
        for my $db (0 .. 2) {
            conn_cmd($c, 'SELECT', $db);
            my ($keys) = conn_cmd($c, 'KEYS', '*');
            for my $k (@{ sorted_strings($keys) || [] }) {
                push @misplaced, "db$db $k on backend $i" if $owner_check && group_of_key($k) != $i;
                my ($type) = conn_cmd($c, 'TYPE', $k);
                my $t = $type->[1];
                my @what = $t eq 'string' ? ([ 'GET', $k ])
                         : $t eq 'list'   ? ([ 'LRANGE', $k, 0, -1 ])
                         : $t eq 'hash'   ? ([ 'HGETALL', $k ])
                         : $t eq 'set'    ? ([ 'SMEMBERS', $k ])
                         : $t eq 'zset'   ? ([ 'ZRANGE', $k, 0, -1, 'WITHSCORES' ])
                         : $t eq 'stream' ? ([ 'XRANGE', $k, '-', '+' ], [ 'XINFO', 'GROUPS', $k ])
                         : ();
                my @vals = map {
                    my ($r, $raw) = conn_cmd($c, @$_);
                    $_->[0] eq 'SMEMBERS' ? join(',', @{ sorted_strings($r) }) : esc($raw)
                } @what;
                my ($pttl) = conn_cmd($c, 'PTTL', $k);
                my $ttl = $pttl->[1] > 0 ? 'volatile' : $pttl->[1];
                $all{"db$db $k"} = join(' | ', $t, $ttl, @vals);
            }
        }
        close $c->{s};
    }
    return (\%all, \@misplaced);
}

# The keyspaces differ where? A list of lines.
sub keyspace_diff {
    my ($got, $want) = @_;
    my @d;
    for my $k (sort keys %{ { %$got, %$want } }) {
        my ($g, $w) = ($got->{$k} // '(missing)', $want->{$k} // '(missing)');
        push @d, "$k: backends $g; reference $w" if $g ne $w;
    }
    return @d;
}

sub check_list {
    my ($name, $bad) = @_;
    ok(!@$bad, $name) or diag(join("\n", @$bad[0 .. ($#$bad < 29 ? $#$bad : 29)])
                              . (@$bad > 30 ? "\n... and " . (@$bad - 30) . ' more' : ''));
}

sub run_setup {
    my ($label, @ranges) = @_;
    @groups_of = map { [ split /-/ ] } @ranges;
    my @back = map { start_redis() } @ranges;
    my $ref = start_redis();
    my @bports = map { $_->{port} } @back;

    # The same data on both sides: each key on its slot's backend.
    {
        my @bc = map { conn_open($_) } @bports;
        my $rc = conn_open($ref->{port});
        for my $tag ('t', $XTAG, $YTAG) {
            for my $cmd (dataset($tag)) {
                my $key = $cmd->[0] eq 'XGROUP' ? $cmd->[2] : $cmd->[1];
                my ($x) = conn_cmd($bc[ group_of_key($key) ], @$cmd);
                my ($y) = conn_cmd($rc, @$cmd);
                die "loading @$cmd: " . show($x) . ' / ' . show($y) . "\n" if is_err($x) || is_err($y);
            }
        }
        close $_->{s} for @bc, $rc;
    }

    my $conf = write_conf_in($label,
        groups => [ map { [ $_ + 1, "127.0.0.1:$bports[$_]" ] } 0 .. $#bports ],
        slots  => [ map { [ $ranges[$_], $_ + 1 ] } 0 .. $#ranges ],
    );
    my $cordis = start_cordis($conf);
    my $cc = conn_open($conf->{port});
    my $rc = conn_open($ref->{port});

    # cordis's kind of every command, from its COMMAND DOCS.
    my %kind;
    {
        my ($docs) = conn_cmd($cc, 'COMMAND', 'DOCS');
        my $walk;
        $walk = sub {
            my ($list) = @_;
            for (my $i = 0; $i + 1 < @$list; $i += 2) {
                my ($name, @doc) = ($list->[$i][1], map { $_->[1] } @{ $list->[$i + 1][1] });
                my %doc;
                for (my $j = 0; $j + 1 < @doc; $j += 2) { $doc{ $doc[$j] } = $doc[$j + 1] }
                my $text = ref $doc{cordis} ? '' : $doc{cordis} // '';
                $kind{$name} = $text =~ /^refused: / ? 'refused'
                             : $text =~ /^answered by cordis/ ? 'local'
                             : $text =~ /^forwarded to the group of its key/ ? 'keyed'
                             : $text =~ /^forwarded whole when its keys are in one group/ ? 'same_group'
                             : $text =~ /^split per group/ ? 'split'
                             : $text =~ /^(sent to every group|one group per call)/ ? 'fanout'
                             : $text =~ /private connection|subscriptions held by cordis|group of its channel/ ? 'pinned'
                             : $text =~ /^a container/ ? 'container'
                             : "unknown ($text)";
                $walk->($doc{subcommands}) if ref $doc{subcommands};
            }
        };
        $walk->($docs->[0] eq '*' ? $docs->[1] : []);
    }

    my (@unknown, @unclassified, @bad_refused, @bad_pinned, @bad_local, @bad_exact,
        @bad_shape, @invalid, @lost);
    my %count;
    $count{ $kind{$_} // 'missing' }++ for keys %$REDIS;
    for my $name (sort keys %$REDIS) {
        my $k = $kind{$name} // 'missing';
        push @unclassified, "$name: $k" unless $k =~ /^(local|keyed|same_group|split|fanout|pinned|refused)$/;
        push @bad_refused, "$name: cordis's kind is $k, the short list says refused"
            if is_refused_name($name) && $k ne 'refused';
        push @bad_refused, "$name: cordis refuses it, not in the short list"
            if $k eq 'refused' && !is_refused_name($name);
        push @bad_pinned, "$name: cordis's kind is $k, the short list says pinned"
            if $PINNED{$name} && $k ne 'pinned';
        push @bad_pinned, "$name: cordis pins it, not in the short list"
            if $k eq 'pinned' && !$PINNED{$name};
    }

    my $reconnect = sub {
        my ($which) = @_;
        if ($which eq 'cordis') { close $cc->{s}; $cc = conn_open($conf->{port}) }
        else                    { close $rc->{s}; $rc = conn_open($ref->{port}) }
    };

    # Runs one row; records what is wrong with it.
    my $run = sub {
        my ($row) = @_;
        my ($opt, @argv) = row_parts($row);
        @argv = map { subst($_) } @argv;
        my $name = row_name($row);
        my $k = $kind{$name} // 'missing';
        (my $show = join ' ', map { length > 40 ? substr($_, 0, 40) . '...' : $_ } @argv) =~ s/[^ -~]/./g;
        my $cordis_only = is_refused_name($name) || $k eq 'refused';

        my ($got, $want);
        if ($opt->{scan}) {
            my (@g, @w);
            for my $side ([ $cc, \@g ], [ $rc, \@w ]) {
                my $cur = '0';
                for (1 .. 1000) {
                    my ($r) = conn_cmd($side->[0], $argv[0], $cur, @argv[2 .. $#argv]);
                    if ($r->[0] ne '*' || !defined $r->[1] || @{ $r->[1] } != 2) {
                        push @{ $side->[1] }, 'bad reply ' . show($r);
                        last;
                    }
                    $cur = $r->[1][0][1];
                    push @{ $side->[1] }, map { $_->[1] } @{ $r->[1][1][1] };
                    last if $cur eq '0';
                }
            }
            my ($g, $w) = ([ sort @g ], [ sort @w ]);
            push @bad_exact, "$show: iterated to 0 through cordis [@$g], the reference [@$w]"
                unless "@$g" eq "@$w";
            return;
        }
        if ($opt->{fresh}) {
            my ($c1, $c2) = (conn_open($conf->{port}), conn_open($ref->{port}));
            ($got) = conn_cmd($c1, @argv);
            ($want) = conn_cmd($c2, @argv);
            my ($after) = conn_read($c1, 5);
            push @bad_local, "$show: the connection stays open after it (" . show($after) . ')'
                unless $after->[0] eq 'closed';
            close $_->{s} for $c1, $c2;
        } else {
            my $graw;
            ($got, $graw) = conn_cmd($cc, @argv);
            if (lost($got)) {
                push @lost, "$show: no reply through cordis ($got->[0])";
                $reconnect->('cordis');
            }
            if (!$cordis_only) {
                my $wraw;
                ($want, $wraw) = conn_cmd($rc, @argv);
                if (lost($want)) {
                    push @lost, "$show: no reply from the reference ($want->[0])";
                    $reconnect->('reference');
                }
                $got->[2] = $graw;
                $want->[2] = $wraw;
            }
        }
        $saved{ $opt->{save} } = $want->[1] if $opt->{save} && $want;
        if (is_err($got) && $got->[1] =~ /^ERR unknown (sub)?command/) {
            push @unknown, "$show: " . show($got);
            return;
        }
        if ($want && !lost($want) && (is_err($want) xor $opt->{err})) {
            push @invalid, "$show: the reference answers " . show($want);
        }
        my $disp = display_name($name);
        if (is_refused_name($name)) {
            my $prefix = "ERR command '$disp' is not supported by cordis: ";
            push @bad_refused, "$show: " . show($got)
                unless is_err($got) && index($got->[1], $prefix) == 0;
        } elsif (is_err($got) && $got->[1] =~ /^ERR command '.*' is not supported by cordis/) {
            push @bad_refused, "$show: refused but not in the short list: " . show($got);
        } elsif ($k eq 'local') {
            push @bad_local, "$show: cordis " . show($got) . '; the reference ' . show($want)
                if lost($got) || (is_err($got) && !is_err($want));
        } elsif ($opt->{shape}) {
            push @bad_shape, "$show: cordis " . show($got) . '; the reference ' . show($want)
                if $got->[0] ne $want->[0] || is_err($got) ne is_err($want)
                   || (defined $got->[1]) != (defined $want->[1]);
        } elsif ($opt->{sorted}) {
            my ($g, $w) = (sorted_strings($got), sorted_strings($want));
            push @bad_exact, "$show: cordis " . show($got) . '; the reference ' . show($want)
                unless $g && $w && "@$g" eq "@$w";
        } elsif ($opt->{unordered}) {
            push @bad_exact, "$show: cordis " . show($got) . '; the reference ' . show($want)
                unless unordered_text($got) eq unordered_text($want);
        } elsif ($opt->{near}) {
            push @bad_exact, "$show: cordis " . show($got) . '; the reference ' . show($want)
                unless $got->[0] eq ':' && $want->[0] eq ':' && abs($got->[1] - $want->[1]) <= $opt->{near};
        } else {
            push @bad_exact, "$show: cordis " . show($got) . '; the reference ' . show($want)
                unless lost($got) ? 0 : $got->[2] eq $want->[2];
        }
    };

    $run->($_) for @MAIN;

    # The datasets after every example: the same, every key on its backend.
    my ($kb, $misplaced) = keyspace(\@bports, 1);
    my ($kr) = keyspace([ $ref->{port} ], 0);
    my @diff = keyspace_diff($kb, $kr);
    push @diff, map { "misplaced: $_" } @$misplaced;
    check_list("$label: after every example the backends hold what the reference holds ("
               . scalar(keys %$kr) . ' keys)', \@diff);

    if (@ranges > 1) {
        # same_group commands across groups: CROSSSLOT, nothing changed.
        my (@bad_cross, @bad_split, %crossed);
        for my $row (@CROSS_SAME) {
            my ($opt, @argv) = row_parts($row);
            @argv = map { subst($_) } @argv;
            my $name = row_name($row);
            $crossed{$name} = 1;
            my @g = sort { $a <=> $b } keys %{ { map { group_of_key($_) => 1 } grep { /\{/ } @argv } };
            my ($got) = conn_cmd($cc, @argv);
            my $expect = $opt->{expect} // $CROSSSLOT;
            push @bad_cross, "@argv (groups @g): " . show($got)
                unless @g > 1 && is_err($got) && $got->[1] eq $expect;
            push @bad_cross, "$name: cordis's kind is " . ($kind{$name} // 'missing') . ', not same_group'
                unless ($kind{$name} // '') eq 'same_group';
        }
        my ($kb2, $mis2) = keyspace(\@bports, 1);
        my @diff2 = keyspace_diff($kb2, $kr);
        push @diff2, map { "misplaced: $_" } @$mis2;
        check_list("$label: same_group commands over two groups answer CROSSSLOT", \@bad_cross);
        check_list("$label: ... and change nothing", \@diff2);

        # split commands across the three groups: the reference's answer.
        for my $row (@CROSS_SPLIT) {
            my (undef, @argv) = row_parts($row);
            @argv = map { subst($_) } @argv;
            my $name = row_name($row);
            $crossed{$name} = 1;
            my @g = sort { $a <=> $b } keys %{ { map { group_of_key($_) => 1 } grep { /\{/ } @argv } };
            my (undef, $graw) = conn_cmd($cc, @argv);
            my ($want, $wraw) = conn_cmd($rc, @argv);
            push @bad_split, "@argv (groups @g): cordis " . show((parse_reply(\$graw, 0))[0] // ['?'])
                             . '; the reference ' . show($want)
                unless @g == 3 && $graw eq $wraw;
            push @bad_split, "$name: cordis's kind is " . ($kind{$name} // 'missing') . ', not split'
                unless ($kind{$name} // '') eq 'split';
        }
        check_list("$label: split commands over three groups answer as the reference", \@bad_split);
        my @uncrossed = grep { ($kind{$_} // '') =~ /^(same_group|split)$/ && !$crossed{$_} }
                        sort keys %$REDIS;
        check_list("$label: every same_group and split command has a cross-group example", \@uncrossed);

        # Fan-out over what the groups hold, and over what the reference holds.
        my ($kb3, $mis3) = keyspace(\@bports, 1);
        my @diff3 = keyspace_diff($kb3, $kr = (keyspace([ $ref->{port} ], 0))[0]);
        push @diff3, map { "misplaced: $_" } @$mis3;
        check_list("$label: after the split commands the backends hold what the reference holds", \@diff3);
        my %per_group = map { $_ => 0 } 0 .. $#bports;
        $per_group{ group_of_key((split / /, $_, 2)[1]) }++ for grep { /^db0 / } keys %$kb3;
        ok(!grep({ $_ == 0 } values %per_group), 'every group holds keys in db 0: '
           . join(', ', map { "group " . ($_ + 1) . " $per_group{$_}" } sort keys %per_group));
        my @union = sort map { (split / /, $_, 2)[1] } grep { /^db0 / } keys %$kb3;
        my ($keys) = conn_cmd($cc, 'KEYS', '*');
        my ($rkeys) = conn_cmd($rc, 'KEYS', '*');
        my $ks = sorted_strings($keys) || [];
        ok("@$ks" eq "@union" && "@$ks" eq "@{ sorted_strings($rkeys) || [] }",
           'KEYS * through cordis (sorted) is the union of the backends and the reference\'s ('
           . scalar(@union) . ' keys)')
            or diag "cordis: @$ks\nunion:  @union";
        my ($dbsize) = conn_cmd($cc, 'DBSIZE');
        my ($rdbsize) = conn_cmd($rc, 'DBSIZE');
        my $sum = 0;
        $sum += redis_cmd($_, 'DBSIZE') for @bports;
        ok($dbsize->[0] eq ':' && $dbsize->[1] == $sum && $sum == $rdbsize->[1],
           "DBSIZE through cordis is the backends' sum and the reference's ($sum)")
            or diag 'cordis ' . show($dbsize) . ", sum $sum, reference " . show($rdbsize);
        my @seen;
        my ($calls, $cur) = (0, q(0));
        while ($calls++ < 1000) {
            my ($r) = conn_cmd($cc, 'SCAN', $cur, 'COUNT', 5);
            last unless $r->[0] eq '*' && defined $r->[1];
            $cur = $r->[1][0][1];
            push @seen, map { $_->[1] } @{ $r->[1][1][1] };
            last if $cur eq '0';
        }
        my %uniq = map { $_ => 1 } @seen;
        ok($cur eq '0' && "@{[ sort keys %uniq ]}" eq "@union",
           "SCAN through cordis, iterated to 0 ($calls calls), returns every key of every group")
            or diag "cursor $cur; scan: @{[ sort keys %uniq ]}\nunion: @union";
    }

    $run->($_) for @FINAL;

    diag(sprintf '%s: %d Redis commands: %s', $label, scalar(keys %$REDIS),
         join(', ', map { "$_ $count{$_}" } sort keys %count));

    check_list("$label: no command answers 'unknown command' through cordis", \@unknown);
    check_list("$label: every Redis command has a dispatch kind in cordis's COMMAND DOCS", \@unclassified);
    check_list("$label: refused exactly the short list, each with its reason", \@bad_refused);
    check_list("$label: pinned exactly the short list", \@bad_pinned);
    check_list("$label: local commands do not fail where Redis does not; QUIT closes", \@bad_local);
    check_list("$label: forwarded and fanned-out replies are exactly the reference's", \@bad_exact);
    check_list("$label: nondeterministic replies have the reference's type", \@bad_shape);
    check_list("$label: every example is valid (the reference fails only the named ones)", \@invalid);
    check_list("$label: every request is answered", \@lost);

    close $cc->{s};
    close $rc->{s};
    my $status = stop_cordis($cordis);
    is($status, 0, "$label: cordis exits cleanly");
    log_is_clean($cordis);
    stop_redis($_) for @back, $ref;
}

# --- the list of commands, and the examples' coverage ----------------------------------------

{
    my $probe = start_redis();
    ($REDIS, $CONTAINERS) = redis_commands($probe->{port});
    my ($ver) = redis_cmd($probe->{port}, 'INFO', 'server') =~ /^redis_version:(\S+)/m;
    stop_redis($probe);
    diag("redis-server $ver: " . scalar(keys %$REDIS) . ' commands and subcommands, '
         . scalar(keys %$CONTAINERS) . ' containers');
    cmp_ok(scalar(keys %$REDIS), '>', 300, 'COMMAND lists the commands and subcommands');
    my %covered = map { row_name($_) => 1 } @MAIN, @FINAL;
    my @missing = grep { !$covered{$_} } sort keys %$REDIS;
    check_list('every command and subcommand Redis lists has an example', \@missing);
    my @extra = grep { !$REDIS->{$_} && !$CONTAINERS->{$_} } sort keys %covered;
    check_list('every example is a command Redis lists', \@extra);
}

run_setup('one-group', '0-1023');
run_setup('three-groups', '0-340', '341-681', '682-1023');

diag(sprintf 'runtime %.1f s', time - $t_begin);
