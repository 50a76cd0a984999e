package CordisClient;
# A raw RESP client for tests that pipeline and read replies as they come:
# one buffer per socket, replies decoded as CordisTest's resp_read does
# (nil bulk = undef, errors = { err => text }), timeouts and closes
# reported in band ("<timeout>", "<closed>"), and the worker a connection
# landed on (row).
use strict;
use warnings;

use Data::Dumper ();
use Exporter 'import';
use IO::Socket::INET;
use Scalar::Util qw(refaddr);
use Time::HiRes qw(time sleep);

use CordisTest;

our @EXPORT = qw(show esc conn disc put reply_end parse1 decode_all fill read_raw rds rd cmd
                 take_all pending wait_closed row conns_per_worker rbuf);

# What a nil array decodes to (undef unless a test wants it visible).
our $NIL_ARRAY;

my %RB;    # refaddr of a socket -> bytes read and not yet taken

# The buffer of bytes read from $s and not yet taken (a reference).
sub rbuf { return \$RB{ refaddr $_[0] } }

sub show {
    my $d = Data::Dumper->new([ $_[0] ])->Terse(1)->Indent(0)->Sortkeys(1)->Useqq(1)->Deepcopy(1);
    return $d->Dump;
}

# Bytes as a readable line: CRLF as \r\n, others as \xNN; long ones cut.
sub esc {
    my ($x) = @_;
    return '(undef)' unless defined $x;
    $x =~ s/\r/\\r/g;
    $x =~ s/\n/\\n/g;
    $x =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return length $x > 700 ? substr($x, 0, 700) . '...(' . length($x) . ')' : $x;
}

sub conn {
    my ($port) = @_;
    my $s = resp_connect($port);
    $RB{ refaddr $s } = '';
    return $s;
}

sub disc {
    my ($s) = @_;
    return unless $s;
    delete $RB{ refaddr $s };
    close $s;
}

# Sends commands (array refs) in one write. False when the write failed.
sub put {
    my ($s, @cmds) = @_;
    my $out = join '', map { resp_encode(@$_) } @cmds;
    my $off = 0;
    while ($off < length $out) {
        my $n = syswrite($s, $out, length($out) - $off, $off);
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

# The offset just past one complete reply starting at $pos in $$b, or -1.
sub reply_end {
    my ($b, $pos) = @_;
    no warnings 'numeric';
    my $need = 1;
    my $len = length $$b;
    while ($need > 0) {
        my $eol = index($$b, "\r\n", $pos);
        return -1 if $eol < 0;
        my $t = substr($$b, $pos, 1);
        my $n = substr($$b, $pos + 1, $eol - $pos - 1);
        $pos = $eol + 2;
        $need--;
        if ($t eq '$') {
            if ($n >= 0) {
                $pos += $n + 2;
                return -1 if $pos > $len;
            }
        } elsif ($t eq '*') {
            $need += $n if $n > 0;
        }
    }
    return $pos;
}

# One complete reply at $pos: (value, offset after it). Values as resp_read.
sub parse1 {
    my ($b, $pos) = @_;
    no warnings 'numeric';
    my $eol = index($$b, "\r\n", $pos);
    my $t = substr($$b, $pos, 1);
    my $x = substr($$b, $pos + 1, $eol - $pos - 1);
    $pos = $eol + 2;
    return ($x, $pos) if $t eq '+';
    return ({ err => $x }, $pos) if $t eq '-';
    return (0 + $x, $pos) if $t eq ':';
    if ($t eq '$') {
        return (undef, $pos) if $x < 0;
        return (substr($$b, $pos, $x), $pos + $x + 2);
    }
    if ($t eq '*') {
        return ($NIL_ARRAY, $pos) if $x < 0;
        my @a;
        for (1 .. $x) {
            (my $v, $pos) = parse1($b, $pos);
            push @a, $v;
        }
        return (\@a, $pos);
    }
    return ("(bad line $t$x)", $pos);
}

sub decode_all {
    my ($raw) = @_;
    my ($pos, @v) = (0);
    while ($pos < length $raw) {
        my $e = reply_end(\$raw, $pos);
        last if $e < 0;
        my ($v) = parse1(\$raw, $pos);
        push @v, $v;
        $pos = $e;
    }
    return @v;
}

# One read (waiting at most $t s): 1 bytes came, 0 none, -1 closed.
sub fill {
    my ($s, $t) = @_;
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    my $n = select(my $rout = $rin, undef, undef, $t > 0 ? $t : 0);
    return 0 if $n <= 0;
    my $got = sysread($s, $RB{ refaddr $s }, 1 << 18, length $RB{ refaddr $s });
    return 1 if $got;
    return 0 if !defined $got && ($!{EINTR} || $!{EAGAIN});
    return -1;
}

# Reads $n replies: (their raw bytes, 'ok' | 'timeout' | 'closed'). On a
# timeout or close everything read is returned (and taken).
sub read_raw {
    my ($s, $n, $t) = @_;
    my $b = \$RB{ refaddr $s };
    my $end = time + ($t // 3);
    my ($pos, $got) = (0, 0);
    while (1) {
        while ($got < $n) {
            my $e = reply_end($b, $pos);
            last if $e < 0;
            ($pos, $got) = ($e, $got + 1);
        }
        return (substr($$b, 0, $pos, ''), 'ok') if $got >= $n;
        my $f = fill($s, $end - time);
        return (substr($$b, 0, length $$b, ''), 'closed') if $f < 0;
        return (substr($$b, 0, length $$b, ''), 'timeout') if $f == 0 && time >= $end;
    }
}

# $n replies decoded; a last element "<timeout>" or "<closed>" when short.
sub rds {
    my ($s, $n, $t) = @_;
    my ($raw, $st) = read_raw($s, $n, $t);
    my @v = decode_all($raw);
    push @v, "<$st>" if $st ne 'ok';
    return @v;
}

sub rd {
    my ($s, $t) = @_;
    my ($raw, $st) = read_raw($s, 1, $t);
    return '<' . $st . (length $raw ? ': ' . esc($raw) : '') . '>' if $st ne 'ok';
    return (decode_all($raw))[0];
}

sub cmd {
    my ($s, @a) = @_;
    put($s, \@a) or return '<write failed>';
    return rd($s);
}

# Every complete reply that arrives within $t s (the socket is read once
# more after the first bytes, briefly).
sub take_all {
    my ($s, $t) = @_;
    my $b = \$RB{ refaddr $s };
    my $f = fill($s, $t);
    1 while $f > 0 && ($f = fill($s, 0.01)) > 0;
    my ($pos, @v) = (0);
    while ((my $e = reply_end($b, $pos)) >= 0) {
        my ($v) = parse1($b, $pos);
        push @v, $v;
        $pos = $e;
    }
    substr($$b, 0, $pos, '');
    push @v, '<closed>' if $f < 0;
    return @v;
}

# Whatever arrives within $t s, not taken ('' when nothing); '<closed>' added
# when the peer closed.
sub pending {
    my ($s, $t) = @_;
    my $end = time + $t;
    while (time < $end) {
        return $RB{ refaddr $s } . '<closed>' if fill($s, $end - time) < 0;
    }
    return $RB{ refaddr $s };
}

# True when the peer closes within $t s (what it sends meanwhile is dropped).
sub wait_closed {
    my ($s, $t) = @_;
    my $end = time + $t;
    while (time < $end) {
        my $f = fill($s, $end - time);
        $RB{ refaddr $s } = '' if length $RB{ refaddr $s } > (1 << 20);
        return 1 if $f < 0;
    }
    return 0;
}

# The worker row of a cordis connection (CLIENT ID % 256), -1 on error.
sub row {
    my $id = cmd($_[0], 'CLIENT', 'ID');
    return ref $id || $id !~ /^\d+$/ ? -1 : $id % 256;
}

# $per connections on each of the two workers: ([row a's], [row b's]).
sub conns_per_worker {
    my ($port, $per) = @_;
    my (%by, @extra);
    for (1 .. 300) {
        my $s = conn($port);
        my $r = row($s);
        if (@{ $by{$r} //= [] } < $per) { push @{ $by{$r} }, $s } else { push @extra, $s }
        last if keys %by >= 2 && !grep { @$_ < $per } values %by;
    }
    disc($_) for @extra;
    my @rows = sort { $a <=> $b } keys %by;
    return ($by{ $rows[0] } // [], $by{ $rows[1] // -2 } // []);
}

1;
