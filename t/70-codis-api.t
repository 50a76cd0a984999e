#!/usr/bin/perl
# Codis's proxy API on cordis's admin listener, as a codis-dashboard uses it
# (shared/codis/PROTOCOL.md): the token and xauth recomputed here from
# Codis's formulas (checked first against the values seen on a live Codis
# cluster), the HTTP 800 errors, the dashboard's create-proxy sequence
# (model, xping, fillslots of all 1024 slots, start, sentinels), "router is
# not online" before start, routing changed by fillslots, locked and
# migrating slots (a parked request; SLOTSMGRT* refused by stock Redis),
# stats with flags, slots, loglevel, forcegc, stats/reset, the /proxy
# overview, a reload keeping the dashboard's slots, shutdown; and the
# security rule: state-changing Codis routes only from loopback, from a
# codis.dashboard address, or with codis.product_auth set (which is also
# the backend AUTH).
use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Test::More tests => 131;
use Time::HiRes qw(sleep time);

use CordisTest;

my $json = JSON::PP->new->allow_nonref->canonical;
# The dashboard's request bodies: 4-space-indented JSON.
my $pretty = JSON::PP->new->pretty->indent_length(4)->canonical;

# --- Codis's formulas (pkg/utils/rpc/crypto.go) --------------------------------

sub codis_token {
    my ($macs, @segs) = @_;
    return md5_hex('Codis-Token@[' . join(' ', @$macs) . ']' . join('', map { "-{$_}" } @segs));
}

sub codis_xauth {
    my (@segs) = @_;
    return substr(sha256_hex('Codis-XAuth' . join('', map { "-[$_]" } @segs)), 0, 32);
}

# The MACs Go's net.Interfaces() reports: every interface with a non-zero
# hardware address, except IP tunnels' (their "address" is an IP), sorted.
sub local_macs {
    my @macs;
    for my $dir (glob '/sys/class/net/*') {
        my $mac = read_file("$dir/address");
        chomp $mac;
        next if $mac eq '' || $mac !~ /[1-9a-f]/;
        my ($type) = read_file("$dir/type") =~ /(\d+)/;
        my $len = () = $mac =~ /:/g;
        $len++;
        next if $len == 4 && grep { $type == $_ } 768, 778, 776;
        next if $len == 16 && grep { $type == $_ } 769, 823;
        push @macs, $mac;
    }
    return [ sort @macs ];
}

# Values seen on a live Codis 3.2 cluster (PROTOCOL.md, section 1).
my @seen_macs = qw(02:fc:00:00:00:01 12:a8:8f:21:00:9c 86:03:c9:25:ff:ab);
my $seen_token = codis_token(\@seen_macs, 'codis-demo', '127.0.0.1:27019', '127.0.0.1:27011');
is($seen_token, 'c90a7012c53e918d3a4c3a9df5dccabd', 'token formula: the value seen on Codis');
is(codis_xauth('codis-demo', '', $seen_token), '4ae21ca7e4267f36ff57d480677928d4',
   'xauth formula: the value seen on Codis');
is(codis_xauth('codis-demo'), '95b62887719520f17e312eaa76d28f2b',
   "the dashboard's own xauth: the value seen on Codis");

# --- HTTP ------------------------------------------------------------------------------

# One request to host:port. %opt: body (a Perl value sent as the dashboard
# does), raw (bytes), from (local address), headers.
sub http {
    my ($method, $hostport, $path, %opt) = @_;
    my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0,
                               $opt{from} ? (local_address => $opt{from}) : ());
    my %args = (headers => { %{ $opt{headers} || {} } });
    if (exists $opt{body}) {
        $args{content} = $pretty->encode($opt{body});
        $args{headers}{'Content-Type'} = 'application/json';
    } elsif (defined $opt{raw}) {
        $args{content} = $opt{raw};
    }
    my $r = $http->request($method, "http://$hostport$path", \%args);
    my $decoded = eval { $json->decode($r->{content}) };
    return { status => $r->{status}, content => $r->{content} // '', json => $decoded };
}

# Codis's error shape: HTTP 800, {"Cause": text, "Stack": null}.
sub is_codis_error {
    my ($r, $cause, $name) = @_;
    my $ok = $r->{status} == 800 && ref $r->{json} eq 'HASH'
             && exists $r->{json}{Stack} && !defined $r->{json}{Stack}
             && ($r->{json}{Cause} // '') =~ $cause;
    ok($ok, $name) or diag("status $r->{status}: $r->{content}");
}

sub is_ok_reply {
    my ($r, $name) = @_;
    ok($r->{status} == 200 && defined $r->{json} && $r->{json} eq 'OK', $name)
        or diag("status $r->{status}: $r->{content}");
}

# A client of the proxy port: its first reply (or 'closed').
sub first_reply {
    my ($port, @cmd) = @_;
    my $s = resp_connect($port);
    resp_send($s, @cmd) if @cmd;
    my $r = resp_read_or_closed($s, 5);
    my $after = ref $r eq 'HASH' ? resp_read_or_closed($s, 5) : '';
    close $s;
    return ($r, $after);
}

my $r1 = start_redis();
my $r2 = start_redis();
my ($a1, $a2) = ("127.0.0.1:$r1->{port}", "127.0.0.1:$r2->{port}");
my $d1 = resp_connect($r1->{port});
my $d2 = resp_connect($r2->{port});

# --- a proxy driven by a dashboard ----------------------------------------------------

my $conf = write_conf_in('main', extra => <<'EOF');
codis = { enabled = true; datacenter = "dc-test"; };
EOF
# write_conf names the product cordis-test.
my $c = start_cordis($conf);
my $admin = "127.0.0.1:$conf->{admin_port}";
my $token = codis_token(local_macs(), 'cordis-test', "127.0.0.1:$conf->{port}", $admin);
my $xauth = codis_xauth('cordis-test', '', $token);

{
    my $m = http('GET', $admin, '/api/proxy/model');
    is($m->{status}, 200, 'GET /api/proxy/model: 200');
    my $model = $m->{json} // {};
    is($model->{token}, $token, 'model: the token is Codis\'s formula over this host\'s MACs');
    is($model->{product_name}, 'cordis-test', 'model: product_name');
    is($model->{admin_addr}, $admin, 'model: admin_addr');
    is($model->{proxy_addr}, "127.0.0.1:$conf->{port}", 'model: proxy_addr');
    is($model->{proto_type}, 'tcp4', 'model: proto_type');
    is($model->{datacenter}, 'dc-test', 'model: datacenter from codis.datacenter');
    is($model->{pid}, $c->{pid}, 'model: pid');
    ok(defined $model->{start_time} && defined $model->{hostname}
       && defined $model->{pwd} && defined $model->{sys}, 'model: start_time, hostname, pwd, sys');
    ok(!exists $model->{id} && !exists $model->{jodis_path}, 'model: no id, no jodis_path (omitempty)');
}

# Not online before start: a client is told so and closed.
{
    my ($r, $after) = first_reply($conf->{port});
    is_deeply($r, { err => 'ERR router is not online' }, 'before start: -ERR router is not online');
    is($after, 'closed', 'before start: the client is closed');
    ($r, $after) = first_reply($conf->{port}, 'PING');
    is_deeply([ $r, $after ], [ { err => 'ERR router is not online' }, 'closed' ],
              'before start: a client that sent PING gets the same');
}

# xauth checks, with Codis's words.
is_codis_error(http('GET', $admin, '/api/proxy/xping/0123'),
               qr/^invalid xauth, please check product name & auth$/, 'xping, wrong xauth: 800 invalid xauth');
is_codis_error(http('GET', $admin, '/api/proxy/xping/'),
               qr/^missing xauth, please check product name & auth$/, 'xping, empty xauth: 800 missing xauth');
is_ok_reply(http('GET', $admin, "/api/proxy/xping/$xauth"), 'xping with the computed xauth: "OK"');
is_codis_error(http('PUT', $admin, '/api/proxy/start/' . codis_xauth('cordis-test', 'x', $token)),
               qr/^invalid xauth/, 'start with an xauth made with another product_auth: refused');

{
    my $st = http('GET', $admin, "/api/proxy/stats/$xauth");
    is($st->{status}, 200, 'stats/:xauth: 200');
    my $s = $st->{json} // {};
    ok(JSON::PP::is_bool($s->{online}) && !$s->{online} && !$s->{closed},
       'stats before start: online false, closed false');
    ok(!exists $s->{ops}{cmd}, 'stats, flags 0: no ops.cmd');
    ok(exists $s->{ops}{total} && exists $s->{ops}{fails} && exists $s->{ops}{redis}{errors}
       && exists $s->{ops}{qps}, 'stats: ops.total, fails, redis.errors, qps');
    ok(exists $s->{sessions}{total} && exists $s->{sessions}{alive}, 'stats: sessions.total, alive');
    ok(exists $s->{rusage}{now} && exists $s->{rusage}{cpu} && exists $s->{rusage}{mem},
       'stats: rusage.now, cpu, mem');
    ok(JSON::PP::is_bool($s->{backend}{primary_only}), 'stats: backend.primary_only');
    is_deeply($s->{sentinels}, {}, 'stats: sentinels {} before any were set');
    is(ref((http('GET', $admin, "/api/proxy/stats/$xauth/1")->{json} // {})->{ops}{cmd}), 'ARRAY',
       'stats/:xauth/1: ops.cmd');
    is(ref((http('GET', $admin, "/api/proxy/stats/$xauth?flags=1")->{json} // {})->{ops}{cmd}), 'ARRAY',
       'stats/:xauth?flags=1: ops.cmd');
    is_codis_error(http('GET', $admin, "/api/proxy/stats/$xauth/x"), qr/invalid syntax/,
                   'stats with flags "x": 800');
    is_codis_error(http('GET', $admin, '/api/proxy/stats/0123'), qr/^invalid xauth/,
                   'stats, wrong xauth: 800');
}

# The dashboard's create-proxy: fillslots (all 1024), start, sentinels.
my @all = map { { id => $_, backend_addr => $_ < 512 ? $a1 : $a2,
                  backend_addr_group_id => $_ < 512 ? 1 : 2 } } 0 .. 1023;
is_ok_reply(http('PUT', $admin, "/api/proxy/fillslots/$xauth", body => \@all),
            'fillslots with all 1024 slots: "OK"');
{
    my ($r, $after) = first_reply($conf->{port});
    is_deeply($r, { err => 'ERR router is not online' }, 'filled but not started: still not online');
}
is_ok_reply(http('PUT', $admin, "/api/proxy/start/$xauth"), 'start: "OK"');
is_ok_reply(http('PUT', $admin, "/api/proxy/sentinels/$xauth", body => { out_of_sync => JSON::PP::false }),
            'sentinels {"out_of_sync": false}: "OK"');
is_ok_reply(http('PUT', $admin, "/api/proxy/start/$xauth"), 'start again: "OK" (idempotent)');
{
    my $s = http('GET', $admin, "/api/proxy/stats/$xauth")->{json} // {};
    ok($s->{online} && !$s->{closed}, 'stats after start: online true, closed false');
    ok((http('GET', $admin, '/api/proxy/stats')->{json} // {})->{online},
       "cordis's own /api/proxy/stats says online too");
}

# Online: requests are served where the slots say.
my $s = resp_connect($conf->{port});
my ($k1, $k2) = (key_in_group('ca', 1), key_in_group('ca', 2));
is(resp_cmd($s, 'SET', $k1, 'v1'), 'OK', 'after start: SET through cordis');
is(resp_cmd($d1, 'GET', $k1), 'v1', "after start: slot < 512 went to group 1 ($a1)");
is(resp_cmd($s, 'SET', $k2, 'v2'), 'OK', 'after start: SET of a key in slot >= 512');
is(resp_cmd($d2, 'GET', $k2), 'v2', "after start: slot >= 512 went to group 2 ($a2)");

{
    my $slots = http('GET', $admin, "/api/proxy/slots/$xauth")->{json} // [];
    is(scalar @$slots, 1024, 'slots/:xauth: 1024 slots');
    is_deeply($slots->[0], { id => 0, backend_addr => $a1, backend_addr_group_id => 1 },
              'slots: slot 0 as Codis shows it (zero fields left out)');
    is_deeply($slots->[1023], { id => 1023, backend_addr => $a2, backend_addr_group_id => 2 },
              'slots: slot 1023');
    is_codis_error(http('GET', $admin, '/api/proxy/slots/0123'), qr/^invalid xauth/, 'slots, wrong xauth: 800');
}

# fillslots changes the routing: foo (slot 289) moves to group 2.
my $foo = codis_slot('foo');
is_ok_reply(http('PUT', $admin, "/api/proxy/fillslots/$xauth",
                 body => [ { id => $foo, backend_addr => $a2, backend_addr_group_id => 2 } ]),
            "fillslots of slot $foo alone: \"OK\"");
is(resp_cmd($s, 'SET', 'foo', 'moved'), 'OK', 'SET foo after the move');
is(resp_cmd($d2, 'GET', 'foo'), 'moved', 'foo went to group 2');
is(resp_cmd($d1, 'EXISTS', 'foo'), 0, 'and not to group 1');
is((http('GET', $admin, "/api/proxy/slots/$xauth")->{json} // [])->[$foo]{backend_addr}, $a2,
   'slots shows the move');

# Slot states through the Codis route, as the dashboard sends them in a
# migration (PROTOCOL.md 3): the slot objects are taken, shown back, and a
# request for a locked slot waits until the lock goes. On stock Redis (no
# SLOTSMGRT* commands) a migrating slot fails each keyed request the way
# codis-proxy does (PROTOCOL.md 5).
is_ok_reply(http('PUT', $admin, "/api/proxy/fillslots/$xauth",
                 body => [ { id => 7, backend_addr => $a1, backend_addr_group_id => 1 },
                           { id => $foo, locked => JSON::PP::true, backend_addr => $a1,
                             backend_addr_group_id => 1, migrate_from => $a2,
                             migrate_from_group_id => 2, forward_method => 1 } ]),
            'fillslots with a locked, migrating slot: "OK"');
is_deeply((http('GET', $admin, "/api/proxy/slots/$xauth")->{json} // [])->[$foo],
          { id => $foo, locked => JSON::PP::true, backend_addr => $a1, backend_addr_group_id => 1,
            migrate_from => $a2, migrate_from_group_id => 2, forward_method => 1 },
          'slots shows the slot as the dashboard sent it');
{
    my $w = resp_connect($conf->{port});
    resp_send($w, 'GET', 'foo');
    my $sel = IO::Select->new($w);
    ok(!$sel->can_read(0.3), 'a GET for the locked slot waits');
    is_ok_reply(http('PUT', $admin, "/api/proxy/fillslots/$xauth",
                     body => [ { id => $foo, backend_addr => $a1, backend_addr_group_id => 1,
                                 migrate_from => $a2, migrate_from_group_id => 2,
                                 forward_method => 1 } ]),
                'fillslots unlocks it (semi-async migration from group 2)');
    like((resp_read($w) // {})->{err} // '',
         qr/^ERR handle request, bad slotsmgrt-exec-wrapper resp: ERR unknown command 'SLOTSMGRT-EXEC-WRAPPER'/,
         '... then it goes through SLOTSMGRT-EXEC-WRAPPER, which stock Redis refuses (as codis-proxy on Redis 7)');
    close $w;
}
is_ok_reply(http('PUT', $admin, "/api/proxy/fillslots/$xauth",
                 body => [ { id => $foo, backend_addr => $a1, backend_addr_group_id => 1,
                             migrate_from => $a2, migrate_from_group_id => 2, forward_method => 0 } ]),
            'fillslots: sync migration from group 2');
like((resp_cmd($s, 'GET', 'foo') // {})->{err} // '',
     qr/^ERR handle request, bad slotsmgrt resp: ERR unknown command 'SLOTSMGRTTAGONE'/,
     '... SLOTSMGRTTAGONE, refused by stock Redis, gives codis-proxy\'s error');
is(resp_cmd($s, 'PING'), 'PONG', '... and the connection goes on');
is_ok_reply(http('PUT', $admin, "/api/proxy/fillslots/$xauth",
                 body => [ { id => $foo, backend_addr => $a2, backend_addr_group_id => 2 } ]),
            'fillslots: the slot back on group 2, no state');
is(resp_cmd($s, 'GET', 'foo'), 'moved', 'foo is served by group 2 again');
is_codis_error(http('PUT', $admin, "/api/proxy/fillslots/$xauth",
                    body => [ { id => 7, backend_addr => $a2, backend_addr_group_id => 2 },
                              { id => 3, backend_addr => $a1, forward_method => 2 } ]),
               qr/^use of invalid forwarder method$/, 'a fillslots with one bad slot: 800');
is((http('GET', $admin, "/api/proxy/slots/$xauth")->{json} // [])->[7]{backend_addr}, $a1,
   '... and none of its slots is applied');
is_codis_error(http('PUT', $admin, "/api/proxy/fillslots/$xauth",
                    body => [ { id => 3, backend_addr => $a1, forward_method => 2 } ]),
               qr/^use of invalid forwarder method$/, 'forward_method 2: 800 invalid forwarder method');
is_codis_error(http('PUT', $admin, "/api/proxy/fillslots/$xauth", body => [ { id => 1024 } ]),
               qr/^use of invalid slot id$/, 'slot id 1024: 800 invalid slot id');
is_codis_error(http('PUT', $admin, "/api/proxy/fillslots/$xauth", raw => '[{"id": 1,'),
               qr/bad JSON/, 'a body that is not JSON: 800');

# An offline slot (no backend_addr) is not served; then back.
is_ok_reply(http('PUT', $admin, "/api/proxy/fillslots/$xauth", body => [ { id => $foo } ]),
            'fillslots of an offline slot (no backend_addr): "OK"');
like((resp_cmd($s, 'GET', 'foo') // {})->{err} // '', qr/slot $foo is not served/,
     'a request for the offline slot gets an error');
is_ok_reply(http('PUT', $admin, "/api/proxy/fillslots/$xauth",
                 body => [ { id => $foo, backend_addr => $a2, backend_addr_group_id => 2 } ]),
            'slot filled again');
is(resp_cmd($s, 'GET', 'foo'), 'moved', 'and served again');

# Sentinels are kept and shown.
is_ok_reply(http('PUT', $admin, "/api/proxy/sentinels/$xauth",
                 body => { servers => [ '127.0.0.1:26379', '127.0.0.1:26380' ],
                           out_of_sync => JSON::PP::true }),
            'sentinels with two servers: "OK"');
is_deeply((http('GET', $admin, "/api/proxy/stats/$xauth")->{json} // {})->{sentinels},
          { servers => [ '127.0.0.1:26379', '127.0.0.1:26380' ] }, 'stats.sentinels.servers');
is_ok_reply(http('PUT', $admin, "/api/proxy/sentinels/$xauth/rewatch"), 'sentinels/rewatch: "OK"');
is_codis_error(http('PUT', $admin, "/api/proxy/sentinels/$xauth", raw => '{"servers": 5}'),
               qr/servers/, 'sentinels with a bad body: 800');

# loglevel, forcegc, stats/reset.
is_ok_reply(http('PUT', $admin, "/api/proxy/loglevel/$xauth/DEBUG"), 'loglevel/:xauth/DEBUG: "OK"');
ok(wait_for(sub { read_file($conf->{log}) =~ /log level set to debug/ }, 5), 'the log level is debug');
is_ok_reply(http('PUT', $admin, "/api/proxy/loglevel/$xauth/info"), 'loglevel back to info');
is_codis_error(http('PUT', $admin, "/api/proxy/loglevel/$xauth/loud"), qr/^invalid loglevel$/,
               'loglevel "loud": 800 invalid loglevel');
is_ok_reply(http('PUT', $admin, "/api/proxy/forcegc/$xauth"), 'forcegc: "OK"');
resp_cmd($s, 'GET', 'foo') for 1 .. 20;
ok(((http('GET', $admin, "/api/proxy/stats/$xauth")->{json} // {})->{ops}{total} // 0) >= 20,
   'stats count the requests');
is_ok_reply(http('PUT', $admin, "/api/proxy/stats/reset/$xauth"), 'stats/reset: "OK"');
cmp_ok(((http('GET', $admin, "/api/proxy/stats/$xauth")->{json} // {})->{ops}{total} // 99), '<', 5,
       'after stats/reset the counters start again');
is_codis_error(http('PUT', $admin, '/api/proxy/stats/reset/0123'), qr/^invalid xauth/,
               'stats/reset, wrong xauth: 800');

# codis-fe's overview.
{
    my $o = http('GET', $admin, '/proxy');
    is($o->{status}, 200, 'GET /proxy: 200, no xauth');
    my $ov = $o->{json} // {};
    ok(defined $ov->{version} && defined $ov->{compile}, '/proxy: version, compile');
    is($ov->{model}{token}, $token, '/proxy: model');
    is($ov->{config}{product_name}, 'cordis-test', '/proxy: config in proxy.toml\'s keys');
    ok($ov->{stats}{online} && ref $ov->{stats}{ops}{cmd} eq 'ARRAY', '/proxy: stats with every flag');
    is(scalar @{ $ov->{slots} // [] }, 1024, '/proxy: slots');
    is((http('GET', $admin, '/proxy/model')->{json} // {})->{token}, $token, 'GET /proxy/model');
    ok((http('GET', $admin, '/proxy/stats')->{json} // {})->{online}, 'GET /proxy/stats');
    is(scalar @{ http('GET', $admin, '/proxy/slots')->{json} // [] }, 1024, 'GET /proxy/slots');
}

# A PUT from a browser page is refused, xauth or not.
is_codis_error(http('PUT', $admin, "/api/proxy/forcegc/$xauth",
                    headers => { Origin => 'http://evil.example' }),
               qr/cross-origin/, 'a PUT with an Origin header: refused');

# A reload keeps what the dashboard filled (codis.enabled), and the state.
kill 'HUP', $c->{pid};
ok(wait_for(sub { read_file($conf->{log}) =~ /reload/i
                  && (http('GET', $admin, '/api/proxy/model')->{json} // {})->{reload}{ok} }, 10),
   'reload (HUP) done');
is(resp_cmd($s, 'GET', 'foo'), 'moved', 'after the reload foo is still in group 2 (the dashboard\'s slots)');
ok((http('GET', $admin, "/api/proxy/stats/$xauth")->{json} // {})->{online}, 'still online after the reload');
{
    my ($r) = first_reply($conf->{port}, 'PING');
    is($r, 'PONG', 'a new client is served after the reload');
}

# The dashboard's remove-proxy: shutdown.
close $s;
is_ok_reply(http('PUT', $admin, "/api/proxy/shutdown/$xauth"), 'shutdown: "OK"');
is_codis_error(http('GET', $admin, "/api/proxy/xping/$xauth"), qr/^use of closed proxy$/,
               'after shutdown: use of closed proxy');
my $status = wait_exit($c, 40);
is($status, 0, 'shutdown: cordis stopped gracefully, exit 0');
log_is_clean($c);

# --- configuration checks ---------------------------------------------------------------

my $nchecks = 0;
sub conf_check {
    my ($extra, %opt) = @_;
    my $cf = write_conf_in("check" . ++$nchecks, extra => $extra, %opt);
    return run_cordis('-t', '-c', $cf->{path});
}
{
    my $r = conf_check('', admin => { listen => '0.0.0.0:' . free_port() });
    isnt($r->{rc}, 0, 'admin on 0.0.0.0 with no token, product_auth or dashboard: config error');
    like($r->{err}, qr/admin\.listen: 0\.0\.0\.0:\d+ is not a loopback address, so admin\.token must be set, or codis\.product_auth or codis\.dashboard/,
         '... naming the options');
    $r = conf_check("codis = { enabled = true; };\n",
                    admin => { listen => '0.0.0.0:' . free_port(), token => 'tok' });
    isnt($r->{rc}, 0, 'codis.enabled, admin on 0.0.0.0 with only admin.token: config error');
    like($r->{err}, qr/codis\.enabled is true, so codis\.product_auth or codis\.dashboard must be set/,
         '... saying a dashboard could not drive it');
    $r = conf_check("codis = { enabled = true; dashboard = \"10.1.2.3, fd00::7\"; };\n",
                    admin => { listen => '0.0.0.0:' . free_port() });
    is($r->{rc}, 0, 'codis.enabled, admin on 0.0.0.0, a dashboard allow-list: accepted') or diag($r->{err});
    $r = conf_check("codis = { product_auth = \"secret\"; };\n",
                    admin => { listen => '0.0.0.0:' . free_port() });
    is($r->{rc}, 0, 'admin on 0.0.0.0 with codis.product_auth: accepted') or diag($r->{err});
    $r = conf_check("codis = { dashboard = \"dashboard.example\"; };\n");
    isnt($r->{rc}, 0, 'codis.dashboard with a host name: config error');
    like($r->{err}, qr/codis\.dashboard: "dashboard\.example" is not an IP address/, '... naming it');
    $r = conf_check("codis = { enable = true; };\n");
    like($r->{err}, qr/codis\.enable: unknown setting/, 'a typo in the codis section is an error');
}

# --- security: state-changing routes from elsewhere ---------------------------------------

# A local address that is not loopback, to call from (and to).
my ($ext) = map { /inet (\d+\.\d+\.\d+\.\d+)\// ? $1 : () }
            grep { !/ lo / } `ip -o -4 addr show scope global 2>/dev/null`;

# A cordis whose slots come from its file: online at once, and the Codis
# routes still there. Its admin listens on every address, allow-list only
# a dashboard that is not us.
my $r3 = start_redis(args => [ '--requirepass', 's3cret' ]);
my $aport = free_port();
my %sec = (groups => [ [ 1, $a1 ] ], slots => [ [ '0-1023', 1 ] ],
           admin => { listen => "0.0.0.0:$aport" }, admin_port => $aport);
my $conf2 = write_conf_in('sec', %sec, extra => "codis = { dashboard = \"192.0.2.254\"; };\n");
my $c2 = start_cordis($conf2);
{
    my ($r) = first_reply($conf2->{port}, 'PING');
    is($r, 'PONG', 'slots from the file (codis.enabled false): online at once');
    ok((http('GET', "127.0.0.1:$aport", '/api/proxy/stats')->{json} // {})->{online},
       '... and stats say online');
}
my $token2 = codis_token(local_macs(), 'cordis-test', "127.0.0.1:$conf2->{port}", "0.0.0.0:$aport");
my $xauth2 = codis_xauth('cordis-test', '', $token2);
is((http('GET', "127.0.0.1:$aport", '/api/proxy/model')->{json} // {})->{token}, $token2,
   'token with an admin listener on 0.0.0.0 (the listener\'s own address)');
is_ok_reply(http('PUT', "127.0.0.1:$aport", "/api/proxy/forcegc/$xauth2"),
            'from loopback, the computed xauth is accepted');

# The third proxy: product_auth set (the xauth holds a secret; the backend
# AUTH too).
my $aport3 = free_port();
my $conf3 = write_conf_in('auth', groups => [ [ 1, "127.0.0.1:$r3->{port}" ] ], slots => [ [ '0-1023', 1 ] ],
                          admin => { listen => "0.0.0.0:$aport3" }, admin_port => $aport3,
                          extra => "codis = { product_auth = \"s3cret\"; };\n");
my $c3 = start_cordis($conf3);
my $token3 = codis_token(local_macs(), 'cordis-test', "127.0.0.1:$conf3->{port}", "0.0.0.0:$aport3");
my $xauth3 = codis_xauth('cordis-test', 's3cret', $token3);
{
    my $s3 = resp_connect($conf3->{port});
    is(resp_cmd($s3, 'SET', 'authed', 'yes'), 'OK',
       'codis.product_auth is the backend AUTH (redis-server with requirepass)');
    close $s3;
    is_codis_error(http('GET', "127.0.0.1:$aport3", '/api/proxy/xping/' . codis_xauth('cordis-test', '', $token3)),
                   qr/^invalid xauth/, 'with product_auth, an xauth made without it is refused');
    is_ok_reply(http('GET', "127.0.0.1:$aport3", "/api/proxy/xping/$xauth3"),
                'the xauth made with product_auth is accepted');
}

SKIP: {
    skip "no non-loopback IPv4 address on this machine to call from", 9 unless $ext;
    note("calling from $ext, which is not loopback");
    my $there = "$ext:$aport";
    is_ok_reply(http('GET', $there, "/api/proxy/xping/$xauth2", from => $ext),
                "from $ext: xping (a read) with the computed xauth: OK");
    my $r = http('PUT', $there, "/api/proxy/start/$xauth2", from => $ext);
    is_codis_error($r, qr/refused: \Q$ext\E:\d+ is not loopback nor in codis\.dashboard/,
                   "from $ext (not in codis.dashboard), the right xauth, no product_auth: start refused");
    is_codis_error(http('PUT', $there, "/api/proxy/fillslots/$xauth2", from => $ext,
                        body => [ { id => 0, backend_addr => $a2 } ]),
                   qr/refused/, "from $ext: fillslots refused");
    is(resp_cmd(resp_connect($conf2->{port}), 'SET', key_in_group('sec', 1), 'x'), 'OK',
       '... and the slots did not change (slot 0 still served by group 1)');
    ok(read_file($conf2->{log}) =~ /PUT start from \Q$ext\E:\d+ refused/, 'the refusal is logged');

    # The dashboard's address in the allow-list: accepted.
    write_conf_in('sec', %sec, port => $conf2->{port},
                  extra => "codis = { dashboard = \"192.0.2.254, $ext\"; };\n");
    kill 'HUP', $c2->{pid};
    ok(wait_for(sub { (http('GET', "127.0.0.1:$aport", '/api/proxy/model')->{json} // {})->{reload}{ok} }, 10),
       'reload with the caller in codis.dashboard');
    is_ok_reply(http('PUT', $there, "/api/proxy/forcegc/$xauth2", from => $ext),
                "from $ext, now in codis.dashboard: accepted");

    # product_auth: accepted from anywhere, with the secret xauth.
    my $there3 = "$ext:$aport3";
    is_ok_reply(http('PUT', $there3, "/api/proxy/stats/reset/$xauth3", from => $ext),
                "from $ext, not in codis.dashboard but product_auth set: accepted");
    is_codis_error(http('PUT', $there3, '/api/proxy/stats/reset/' . codis_xauth('cordis-test', '', $token3),
                        from => $ext),
                   qr/^invalid xauth/, "from $ext, an xauth without the secret: refused");
}

is(stop_cordis($c2), 0, 'the second cordis stops cleanly');
log_is_clean($c2);
is(stop_cordis($c3), 0, 'the third cordis stops cleanly');
log_is_clean($c3);
