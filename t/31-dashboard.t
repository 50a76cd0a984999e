# The dashboard in a real browser: cordis serves the page from its binary,
# traffic runs, headless Chromium renders it and the live numbers show.
use strict;
use warnings;
use Test::More;
use CordisTest;

my $src = $ENV{CORDIS_SRCDIR} || '.';
my $r1 = start_redis();
my $r2 = start_redis();
my $conf = write_conf(groups => [[1, "127.0.0.1:$r1->{port}"], [2, "127.0.0.1:$r2->{port}"]],
                      slots => [["0-511", 1], ["512-1023", 2]]);
my $c = start_cordis($conf);

# Traffic on both groups so the command table and the QPS have numbers.
my $s = resp_connect($conf->{port});
for my $i (1 .. 300) {
    resp_send($s, 'SET', "dash:$i", $i);
}
my @replies = map { resp_read($s) } 1 .. 300;
is(scalar(grep { defined $_ && $_ eq 'OK' } @replies), 300, 'traffic went through cordis');
is(resp_cmd($s, 'GET', 'dash:7'), '7', 'values read back');

my $url = "http://127.0.0.1:$conf->{admin_port}/";
my $out = `sh $src/t/dashboard/check.sh $url 6000 2>&1`;
my $rc = $? >> 8;
is($rc, 0, 'the dashboard renders live numbers in headless Chromium') or diag($out);
like($out, qr/^ok: qps=\d+ slots=1024 cmd_rows=[1-9]\d* conn=live/m, 'qps, 1024 slots, command rows, live')
    or diag($out);

# The page is self-contained: no external scripts, styles or fonts.
my $page = `curl -s $url`;
like($page, qr/<html/i, 'GET / serves the page');
unlike($page, qr/<script[^>]+src=|<link[^>]+href="?https?:|\@import|url\(\s*['"]?https?:/i,
       'nothing is loaded from elsewhere');

is(stop_cordis($c), 0, 'cordis stops cleanly');
log_is_clean($c);
done_testing;
