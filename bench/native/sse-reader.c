// Native SSE reader for the bench's fan-out scenario: holds thousands of subscriber streams
// from one epoll loop and aggregates what they receive, as bench/lib/subscribers.js does.
//
// Why: in Node a delivery costs the load generator 10-13 us of CPU here (5-8 us of it
// JavaScript), so one message fanned out to 5,000 subscribers is as much generator work as
// server work, and the last subscriber's latency measures whichever is slower. Here a
// delivery costs 5-7 us, all but about 1 us of it the kernel's (the read and the loopback
// ACK): the reader stays at half a core where the servers saturate theirs.
//
// Build: gcc -O2 -o sse-reader sse-reader.c (bench/lib/native-pool.js does it on demand).
// Driven by bench/lib/native-pool.js over stdin/stdout, one command per line:
//
//   sub <index> <port> <length>\n<length bytes>   the full GET request of subscriber <index>
//   connect <count> <concurrency> <timeout ms> <track 0|1>
//                                     opens subscribers 0..count-1, <concurrency> in flight;
//                                     "progress <done> <ok>" every 2,000, then
//                                     "connected <ok> <failed>"
//   stats      "stats <ready> <received> <bytes> <uniq> <dups> <unexpected closes>", then
//              "error <n> <reason>" and "control <n> <event type>" lines, then "end"
//   hist       "hist <count> <sum> <max> [<bucket> <n>]...": the latency histogram as its
//              nonzero buckets (0..99,999 the 1 us ones, 100,000.. the 1 ms ones); then reset
//   close      closes every stream (client side); "closed"
//
// End of stdin closes everything and exits. Latency, sequence and error semantics follow
// bench/lib/subscribers.js and bench/lib/stats.js exactly; comments say where they differ.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// Each loopback source address has its own ephemeral port range; as SOURCE_ADDRESSES in
// subscribers.js, subscriber i connects from 127.0.0.(2 + i % 8).
#define SOURCE_ADDRESSES 8
#define READ_BUFFER_SIZE (256 * 1024)
#define MAX_HEAD 65536
#define PROGRESS_EVERY 2000
#define PAYLOAD_PREFIX "{\"s\":"
#define PAYLOAD_PREFIX_LEN 5

// Histogram layout of Histogram in stats.js: 1 us buckets below 100 ms, 1 ms buckets to 120 s.
#define FINE_BUCKETS 100000
#define COARSE_BUCKETS 120000

// SeqWindow in stats.js: sequence numbers tracked ahead of the lowest missing one.
#define WINDOW 4096
#define WORDS (WINDOW / 32)

#define STDIN_TAG UINT64_MAX

struct bytes {
  char *p;
  size_t len, cap;
};

static void bytes_append(struct bytes *b, const char *src, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + n) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) abort();
    b->cap = cap;
  }
  memcpy(b->p + b->len, src, n);
  b->len += n;
}

static void bytes_free(struct bytes *b) {
  free(b->p);
  *b = (struct bytes){0};
}

struct seq_window {
  int64_t base;
  uint32_t bits[WORDS];
  uint64_t uniq, dups;
};

static bool window_is_set(const struct seq_window *w, int64_t s) {
  uint32_t i = (uint32_t)s & (WINDOW - 1);
  return (w->bits[i >> 5] & (1u << (i & 31))) != 0;
}

static void window_clear(struct seq_window *w, int64_t s) {
  uint32_t i = (uint32_t)s & (WINDOW - 1);
  w->bits[i >> 5] &= ~(1u << (i & 31));
}

// SeqWindow.record, step for step.
static void window_record(struct seq_window *w, int64_t s) {
  if (s < w->base) {
    w->dups++;
    return;
  }
  if (s >= w->base + WINDOW) {
    // Give up on what fell out of the window (counted as lost by the caller).
    int64_t new_base = s - WINDOW + 1;
    for (int64_t b = w->base; b < new_base && b < w->base + WINDOW; b++) window_clear(w, b);
    w->base = new_base;
  }
  if (window_is_set(w, s)) {
    w->dups++;
    return;
  }
  uint32_t i = (uint32_t)s & (WINDOW - 1);
  w->bits[i >> 5] |= 1u << (i & 31);
  w->uniq++;
  while (window_is_set(w, w->base)) {
    window_clear(w, w->base);
    w->base++;
  }
}

enum chunk_state {
  CHUNK_SIZE,     // hex digits of a chunk-size line
  CHUNK_SIZE_EXT, // rest of the size line (extensions) up to LF
  CHUNK_DATA,
  CHUNK_DATA_CR, // CRLF after the data
  CHUNK_DATA_LF,
  CHUNK_TRAILER, // start of a trailer line; an empty one ends the body
  CHUNK_TRAILER_LINE,
};

enum conn_state { IDLE, CONNECTING, SENDING, READING_HEAD, STREAMING, CLOSED };

struct subscriber {
  int fd;
  enum conn_state state;
  bool settled; // the open attempt ended (ready, or failed and counted)
  bool ready;   // streaming: head was 200 and body bytes arrived
  int port;
  struct bytes request;
  size_t request_sent;
  double deadline_ms; // monotonic; the open attempt fails with "timeout" after it
  struct bytes head;
  bool chunked;
  enum chunk_state chunk;
  uint64_t chunk_size;
  bool chunk_digits;
  // SSE parser (WHATWG interpretation rules, like SseParser in sse-parser.js)
  bool first_line; // a leading UTF-8 BOM is stripped from the stream's first line
  bool skip_lf;    // the last read ended in CR: an LF at the start of the next one is its pair
  struct bytes line;
  struct bytes data;
  bool has_data;
  struct bytes type;
  struct seq_window *win;
};

struct tally {
  char *name;
  size_t name_len;
  uint64_t n;
};

struct tallies {
  struct tally *items;
  size_t len;
};

static void tally_add(struct tallies *t, const char *name, size_t name_len) {
  for (size_t i = 0; i < t->len; i++) {
    if (t->items[i].name_len == name_len && memcmp(t->items[i].name, name, name_len) == 0) {
      t->items[i].n++;
      return;
    }
  }
  t->items = realloc(t->items, (t->len + 1) * sizeof *t->items);
  if (!t->items) abort();
  t->items[t->len].name = malloc(name_len + 1);
  if (!t->items[t->len].name) abort();
  memcpy(t->items[t->len].name, name, name_len);
  t->items[t->len].name[name_len] = 0;
  t->items[t->len].name_len = name_len;
  t->items[t->len].n = 1;
  t->len++;
}

static struct {
  int epoll;
  struct subscriber *subs;
  size_t subs_len;
  // connect phase
  size_t connect_count, next, done, ok, in_flight, concurrency;
  double timeout_ms;
  bool track, connecting, launching;
  double next_timeout_check;
  // aggregates
  uint64_t received, body_bytes, unexpected_closes;
  struct tallies errors, control;
  uint32_t fine[FINE_BUCKETS];
  uint32_t coarse[COARSE_BUCKETS];
  uint64_t count;
  double sum, max;
  struct bytes out; // replies, written to stdout when a batch of work is done
  struct bytes in;  // commands not yet complete
} g;

// Also the clock of the payloads' send times: the generator stamps them with process.hrtime(),
// which reads CLOCK_MONOTONIC too (stats.js clockMs).
static double monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *line;
  int n = vasprintf(&line, fmt, ap);
  va_end(ap);
  if (n < 0) abort();
  bytes_append(&g.out, line, (size_t)n);
  free(line);
}

static void flush_replies(void) {
  size_t off = 0;
  while (off < g.out.len) {
    ssize_t w = write(STDOUT_FILENO, g.out.p + off, g.out.len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      exit(1); // the parent is gone
    }
    off += (size_t)w;
  }
  g.out.len = 0;
}

static void count_error(const char *reason) {
  tally_add(&g.errors, reason, strlen(reason));
}

// Node's err.code for a failed socket call ("ECONNREFUSED"), as subscribers.js counts them.
static const char *errno_name(int err) {
  const char *name = strerrorname_np(err);
  return name ? name : "error";
}

static void record_latency(double ms) {
  if (ms < 0) ms = 0;
  double us = ms * 1000;
  if (us < FINE_BUCKETS) g.fine[(size_t)us]++;
  else g.coarse[ms >= COARSE_BUCKETS - 1 ? COARSE_BUCKETS - 1 : (size_t)ms]++;
  g.count++;
  g.sum += ms;
  if (ms > g.max) g.max = ms;
}

static void release(struct subscriber *s) {
  if (s->fd >= 0) close(s->fd); // also leaves the epoll set
  s->fd = -1;
  s->state = CLOSED;
  s->ready = false;
  bytes_free(&s->head);
  bytes_free(&s->line);
  bytes_free(&s->data);
  bytes_free(&s->type);
}

static void launch_more(void);

// The open attempt of `s` ended: ready when `reason` is NULL, else failed for that reason.
static void settle(struct subscriber *s, const char *reason) {
  if (s->settled) return;
  s->settled = true;
  g.in_flight--;
  g.done++;
  if (reason == NULL) g.ok++;
  else {
    count_error(reason);
    release(s);
  }
  if (g.done % PROGRESS_EVERY == 0) reply("progress %zu %zu\n", g.done, g.ok);
  if (g.done == g.connect_count) {
    g.connecting = false;
    reply("connected %zu %zu\n", g.ok, g.connect_count - g.ok);
  } else launch_more();
}

// The stream ended or broke without the bench closing it. `reason` is a socket error to count,
// or NULL for an orderly end.
static void lost(struct subscriber *s, const char *reason) {
  if (!s->settled) {
    settle(s, reason ? reason : "closed-early");
    return;
  }
  if (reason) count_error(reason);
  if (s->ready) g.unexpected_closes++;
  release(s);
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Copies d[start, end) into `num` as a C string without surrounding whitespace (JS's Number()
// ignores it: a payload's `t` may end a data line, before the LF that joins the next one);
// false when it does not fit or is empty.
static bool number_text(char num[static 64], const char *d, size_t start, size_t end) {
  while (start < end && is_space(d[start])) start++;
  while (end > start && is_space(d[end - 1])) end--;
  if (end <= start || end - start >= 64) return false;
  memcpy(num, d + start, end - start);
  num[end - start] = 0;
  return true;
}

// Seq and publish time from a bench payload, as Subscriber.onEvent reads them: `s` runs from
// the prefix to the first comma, `t` from 5 bytes after that comma (past `"t":`) to the next
// comma, or to the last byte but one when there is none (JS's slice(start, -1)).
static bool parse_payload(const char *d, size_t len, int64_t *seq, double *sent_ms) {
  const char *comma = memchr(d + PAYLOAD_PREFIX_LEN, ',', len - PAYLOAD_PREFIX_LEN);
  if (!comma) return false;
  size_t seq_end = (size_t)(comma - d);
  size_t t_start = seq_end + 5;
  if (t_start >= len) return false;
  const char *next = memchr(d + t_start, ',', len - t_start);
  size_t t_end = next ? (size_t)(next - d) : len - 1;
  char num[64];
  char *end;
  if (!number_text(num, d, PAYLOAD_PREFIX_LEN, seq_end)) return false;
  long long s = strtoll(num, &end, 10);
  if (*end != 0 || s < 0) return false;
  if (!number_text(num, d, t_start, t_end)) return false;
  double t = strtod(num, &end);
  if (*end != 0 || !isfinite(t)) return false;
  *seq = s;
  *sent_ms = t;
  return true;
}

static void dispatch(struct subscriber *s) {
  if (!s->has_data) {
    s->type.len = 0;
    return;
  }
  // Anywhere in the data, as subscribers.js: an inbox notification carries the payload as
  // its `data` field.
  const char *d = memmem(s->data.p, s->data.len, PAYLOAD_PREFIX, PAYLOAD_PREFIX_LEN);
  size_t len = d ? s->data.len - (size_t)(d - s->data.p) : 0;
  if (d) {
    int64_t seq;
    double sent_ms;
    // subscribers.js would record NaN for a malformed payload; the bench never sends one, so
    // here it is counted as an error and nothing else.
    if (parse_payload(d, len, &seq, &sent_ms)) {
      record_latency(monotonic_ms() - sent_ms);
      g.received++;
      if (s->win) window_record(s->win, seq);
    } else count_error("bad-payload");
  } else if (s->type.len == 0) tally_add(&g.control, "message", 7);
  else tally_add(&g.control, s->type.p, s->type.len);
  s->data.len = 0;
  s->has_data = false;
  s->type.len = 0;
}

// One SSE line, without its terminator.
static void sse_line(struct subscriber *s, const char *p, size_t len) {
  if (s->first_line) {
    s->first_line = false;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
      p += 3;
      len -= 3;
    }
  }
  if (len == 0) {
    dispatch(s);
    return;
  }
  if (p[0] == ':') return; // comment
  const char *colon = memchr(p, ':', len);
  size_t field_len = colon ? (size_t)(colon - p) : len;
  const char *value = colon ? colon + 1 : p + len;
  if (colon && value < p + len && *value == ' ') value++;
  size_t value_len = (size_t)(p + len - value);
  if (field_len == 4 && memcmp(p, "data", 4) == 0) {
    if (s->has_data) bytes_append(&s->data, "\n", 1);
    bytes_append(&s->data, value, value_len);
    s->has_data = true;
  } else if (field_len == 5 && memcmp(p, "event", 5) == 0) {
    s->type.len = 0;
    bytes_append(&s->type, value, value_len);
  }
  // "id" and "retry" only matter to a client that reconnects, which this reader never does;
  // every other field is ignored, as the spec says.
}

// SSE body bytes: lines end at LF, CRLF or CR, also when split across reads.
static void sse_feed(struct subscriber *s, const char *p, size_t n) {
  size_t pos = 0;
  if (s->skip_lf) {
    s->skip_lf = false;
    if (n > 0 && p[0] == '\n') pos = 1;
  }
  while (pos < n) {
    size_t end = pos;
    while (end < n && p[end] != '\n' && p[end] != '\r') end++;
    if (end == n) {
      bytes_append(&s->line, p + pos, n - pos);
      return;
    }
    size_t next = end + 1;
    if (p[end] == '\r') {
      if (next < n) {
        if (p[next] == '\n') next++;
      } else s->skip_lf = true;
    }
    if (s->line.len > 0) {
      bytes_append(&s->line, p + pos, end - pos);
      sse_line(s, s->line.p, s->line.len);
      s->line.len = 0;
    } else sse_line(s, p + pos, end - pos);
    pos = next;
  }
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

enum chunked_result { CHUNKED_MORE, CHUNKED_END, CHUNKED_BROKEN };

// Decodes Transfer-Encoding: chunked (nginx streams that way) and feeds the payload to the SSE
// parser. CHUNKED_END after the last chunk and its trailers; the caller closes the stream then.
static enum chunked_result chunked_feed(struct subscriber *s, const char *p, size_t n) {
  size_t pos = 0;
  while (pos < n) {
    char c = p[pos];
    switch (s->chunk) {
    case CHUNK_SIZE:
    case CHUNK_SIZE_EXT:
      pos++;
      if (c == '\n') {
        if (!s->chunk_digits) return CHUNKED_BROKEN;
        s->chunk = s->chunk_size == 0 ? CHUNK_TRAILER : CHUNK_DATA;
        s->chunk_digits = false;
      } else if (s->chunk == CHUNK_SIZE && hex_value(c) >= 0) {
        s->chunk_size = s->chunk_size * 16 + (uint64_t)hex_value(c);
        s->chunk_digits = true;
      } else s->chunk = CHUNK_SIZE_EXT;
      break;
    case CHUNK_DATA: {
      size_t take = n - pos < s->chunk_size ? n - pos : (size_t)s->chunk_size;
      sse_feed(s, p + pos, take);
      pos += take;
      s->chunk_size -= take;
      if (s->chunk_size == 0) s->chunk = CHUNK_DATA_CR;
      break;
    }
    case CHUNK_DATA_CR:
      pos++;
      if (c == '\r') s->chunk = CHUNK_DATA_LF;
      else if (c == '\n') s->chunk = CHUNK_SIZE;
      else return CHUNKED_BROKEN;
      break;
    case CHUNK_DATA_LF:
      pos++;
      if (c != '\n') return CHUNKED_BROKEN;
      s->chunk = CHUNK_SIZE;
      break;
    case CHUNK_TRAILER:
      pos++;
      if (c == '\n') return CHUNKED_END;
      if (c != '\r') s->chunk = CHUNK_TRAILER_LINE;
      break;
    case CHUNK_TRAILER_LINE:
      pos++;
      if (c == '\n') s->chunk = CHUNK_TRAILER;
      break;
    }
  }
  return CHUNKED_MORE;
}

// Body bytes of a stream whose head was a 200.
static void on_body(struct subscriber *s, const char *p, size_t n) {
  g.body_bytes += n;
  if (s->chunked) {
    enum chunked_result r = chunked_feed(s, p, n);
    if (r != CHUNKED_MORE) {
      // subscribers.js does not count the end of a chunked body as an unexpected close (it
      // closes the socket itself then); a stream that ends during a step is one, whatever
      // its framing, so it counts here.
      lost(s, r == CHUNKED_BROKEN ? "parse" : NULL);
      return;
    }
  } else sse_feed(s, p, n);
  if (!s->ready) {
    s->ready = true;
    settle(s, NULL);
  }
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Case-insensitive header match within a head line; returns the value (trimmed) or NULL.
static const char *header_value(const char *line, size_t len, const char *name, size_t *out_len) {
  size_t nl = strlen(name);
  if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return NULL;
  const char *v = line + nl + 1;
  const char *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
  *out_len = (size_t)(end - v);
  return v;
}

// Collects the response head; on a 200 switches to streaming and feeds what follows it.
static void on_head_bytes(struct subscriber *s, const char *p, size_t n) {
  size_t from = s->head.len > 3 ? s->head.len - 3 : 0;
  bytes_append(&s->head, p, n);
  const char *h = s->head.p;
  const char *end = memmem(h + from, s->head.len - from, "\r\n\r\n", 4);
  if (!end) {
    if (s->head.len > MAX_HEAD) settle(s, "bad-response");
    return;
  }
  size_t head_len = (size_t)(end - h);
  if (head_len < 12 || (memcmp(h, "HTTP/1.1 ", 9) != 0 && memcmp(h, "HTTP/1.0 ", 9) != 0) ||
      !is_digit(h[9]) || !is_digit(h[10]) || !is_digit(h[11])) {
    settle(s, "bad-response");
    return;
  }
  int status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
  if (status != 200) {
    char reason[16];
    snprintf(reason, sizeof reason, "http-%d", status);
    settle(s, reason);
    return;
  }
  const char *line = memchr(h, '\n', head_len);
  while (line && line < end) {
    line++;
    const char *eol = memchr(line, '\r', (size_t)(end - line));
    size_t line_len = eol ? (size_t)(eol - line) : (size_t)(end - line);
    size_t value_len;
    const char *value = header_value(line, line_len, "transfer-encoding", &value_len);
    if (value) s->chunked = memmem(value, value_len, "chunked", 7) != NULL;
    line = eol ? memchr(eol, '\n', (size_t)(end - eol)) : NULL;
  }
  s->state = STREAMING;
  size_t body_start = head_len + 4;
  struct bytes head = s->head;
  s->head = (struct bytes){0};
  if (head.len > body_start) on_body(s, head.p + body_start, head.len - body_start);
  bytes_free(&head);
}

static void send_request(struct subscriber *s) {
  while (s->request_sent < s->request.len) {
    ssize_t w = send(s->fd, s->request.p + s->request_sent, s->request.len - s->request_sent,
                     MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) return; // EPOLLOUT brings us back
      settle(s, errno_name(errno));
      return;
    }
    s->request_sent += (size_t)w;
  }
  s->state = READING_HEAD;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(s - g.subs)};
  epoll_ctl(g.epoll, EPOLL_CTL_MOD, s->fd, &ev);
}

static void open_stream(struct subscriber *s, size_t index) {
  s->settled = false;
  s->ready = false;
  s->chunked = false;
  s->chunk = CHUNK_SIZE;
  s->chunk_size = 0;
  s->chunk_digits = false;
  s->first_line = true;
  s->skip_lf = false;
  s->has_data = false;
  s->request_sent = 0;
  s->deadline_ms = monotonic_ms() + g.timeout_ms;
  if (g.track) {
    free(s->win);
    s->win = calloc(1, sizeof *s->win);
    if (!s->win) abort();
  }
  g.in_flight++;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    settle(s, errno_name(errno));
    return;
  }
  s->fd = fd;
  s->state = CONNECTING;
  struct sockaddr_in local = {.sin_family = AF_INET};
  local.sin_addr.s_addr = htonl(0x7f000000u | (2 + index % SOURCE_ADDRESSES));
  struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0 ||
      (connect(fd, (struct sockaddr *)&server, sizeof server) < 0 && errno != EINPROGRESS)) {
    settle(s, errno_name(errno));
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = index};
  epoll_ctl(g.epoll, EPOLL_CTL_ADD, fd, &ev);
}

static void launch_more(void) {
  // A launch can fail at once and settle, which calls back here: the outer loop goes on.
  if (g.launching) return;
  g.launching = true;
  while (g.connecting && g.next < g.connect_count && g.in_flight < g.concurrency) {
    size_t i = g.next++;
    open_stream(&g.subs[i], i);
  }
  g.launching = false;
}

static void check_timeouts(void) {
  double now = monotonic_ms();
  for (size_t i = 0; i < g.next && g.connecting; i++) {
    struct subscriber *s = &g.subs[i];
    if (!s->settled && s->state != IDLE && now > s->deadline_ms) settle(s, "timeout");
  }
}

static void on_socket(struct subscriber *s, uint32_t events, char *buf) {
  if (s->state == CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      settle(s, errno_name(err));
      return;
    }
    s->state = SENDING;
  }
  if (s->state == SENDING) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) send_request(s);
    return;
  }
  // One read per wake-up (level-triggered): every stream gets its turn in each loop.
  ssize_t n = read(s->fd, buf, READ_BUFFER_SIZE);
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) lost(s, errno_name(errno));
    return;
  }
  if (n == 0) {
    lost(s, NULL);
    return;
  }
  if (s->state == READING_HEAD) on_head_bytes(s, buf, (size_t)n);
  else on_body(s, buf, (size_t)n);
}

static void close_all(void) {
  for (size_t i = 0; i < g.subs_len; i++) {
    struct subscriber *s = &g.subs[i];
    if (s->state != IDLE && s->state != CLOSED) {
      if (!s->settled) {
        // Still opening: the attempt ends as "closed" from our side; not an error.
        s->settled = true;
        g.in_flight--;
      }
      release(s);
    }
  }
  g.connecting = false;
}

static void reply_stats(void) {
  uint64_t ready = 0, uniq = 0, dups = 0;
  for (size_t i = 0; i < g.subs_len; i++) {
    const struct subscriber *s = &g.subs[i];
    if (s->ready) ready++;
    if (s->win) {
      uniq += s->win->uniq;
      dups += s->win->dups;
    }
  }
  reply("stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", ready,
        g.received, g.body_bytes, uniq, dups, g.unexpected_closes);
  for (size_t i = 0; i < g.errors.len; i++)
    reply("error %" PRIu64 " %s\n", g.errors.items[i].n, g.errors.items[i].name);
  for (size_t i = 0; i < g.control.len; i++)
    reply("control %" PRIu64 " %s\n", g.control.items[i].n, g.control.items[i].name);
  reply("end\n");
}

static void reply_bucket(size_t index, uint32_t n) {
  char item[32];
  int len = snprintf(item, sizeof item, " %zu %" PRIu32, index, n);
  bytes_append(&g.out, item, (size_t)len);
}

static void reply_histogram(void) {
  reply("hist %" PRIu64 " %.17g %.17g", g.count, g.sum, g.max);
  for (size_t i = 0; i < FINE_BUCKETS; i++)
    if (g.fine[i]) reply_bucket(i, g.fine[i]);
  for (size_t i = 0; i < COARSE_BUCKETS; i++)
    if (g.coarse[i]) reply_bucket(FINE_BUCKETS + i, g.coarse[i]);
  reply("\n");
  memset(g.fine, 0, sizeof g.fine);
  memset(g.coarse, 0, sizeof g.coarse);
  g.count = 0;
  g.sum = 0;
  g.max = 0;
}

static void ensure_subscribers(size_t n) {
  if (n <= g.subs_len) return;
  g.subs = realloc(g.subs, n * sizeof *g.subs);
  if (!g.subs) abort();
  for (size_t i = g.subs_len; i < n; i++) g.subs[i] = (struct subscriber){.fd = -1, .state = IDLE};
  g.subs_len = n;
}

static void bad_command(const char *line) {
  fprintf(stderr, "sse-reader: bad command: %s\n", line);
  exit(2);
}

// Runs every complete command in g.in; keeps an incomplete one for the next read.
static void run_commands(void) {
  if (g.in.len == 0) return;
  size_t pos = 0;
  for (;;) {
    char *nl = memchr(g.in.p + pos, '\n', g.in.len - pos);
    if (!nl) break;
    *nl = 0;
    char *line = g.in.p + pos;
    size_t after = (size_t)(nl - g.in.p) + 1;
    size_t index, count, concurrency, length;
    int port, track;
    double timeout;
    if (sscanf(line, "sub %zu %d %zu", &index, &port, &length) == 3) {
      if (g.in.len - after < length) {
        *nl = '\n'; // the request has not all arrived yet
        break;
      }
      ensure_subscribers(index + 1);
      struct subscriber *s = &g.subs[index];
      if (s->state != IDLE && s->state != CLOSED) release(s); // re-opened: the bench closed it
      s->port = port;
      s->request.len = 0;
      bytes_append(&s->request, g.in.p + after, length);
      after += length;
    } else if (sscanf(line, "connect %zu %zu %lf %d", &count, &concurrency, &timeout, &track) ==
               4) {
      if (count > g.subs_len) bad_command("connect: more subscribers than sent");
      g.connect_count = count;
      g.concurrency = concurrency > 0 ? concurrency : 1;
      g.timeout_ms = timeout;
      g.track = track != 0;
      g.next = g.done = g.ok = 0;
      g.connecting = true;
      if (count == 0) {
        g.connecting = false;
        reply("connected 0 0\n");
      } else launch_more();
    } else if (strcmp(line, "stats") == 0) reply_stats();
    else if (strcmp(line, "hist") == 0) reply_histogram();
    else if (strcmp(line, "close") == 0) {
      close_all();
      reply("closed\n");
    } else bad_command(line);
    pos = after;
  }
  memmove(g.in.p, g.in.p + pos, g.in.len - pos);
  g.in.len -= pos;
}

// Returns false at the end of stdin (after running what came before it): the parent is done.
static bool on_stdin(void) {
  char buf[65536];
  bool open = true;
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n > 0) bytes_append(&g.in, buf, (size_t)n);
    else if (n < 0 && errno == EINTR) continue;
    else {
      open = n < 0 && errno == EAGAIN;
      break;
    }
  }
  run_commands();
  return open;
}

int main(void) {
  // Die with the bench, even when it is killed without a chance to close our stdin.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  // One descriptor per subscriber: take the hard limit, as Node does at start-up.
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  g.epoll = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
  if (g.epoll < 0 || epoll_ctl(g.epoll, EPOLL_CTL_ADD, STDIN_FILENO, &ev) < 0) {
    perror("sse-reader: epoll");
    return 1;
  }
  static char read_buffer[READ_BUFFER_SIZE];
  struct epoll_event events[1024];
  for (;;) {
    int n = epoll_wait(g.epoll, events, 1024, g.connecting ? 20 : -1);
    if (n < 0 && errno != EINTR) {
      perror("sse-reader: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      if (events[i].data.u64 == STDIN_TAG) {
        if (!on_stdin()) {
          close_all();
          flush_replies();
          return 0;
        }
        continue;
      }
      struct subscriber *s = &g.subs[events[i].data.u64];
      // A stream released earlier in this batch may still have an event in it.
      if (s->state != IDLE && s->state != CLOSED) on_socket(s, events[i].events, read_buffer);
    }
    if (g.connecting && monotonic_ms() >= g.next_timeout_check) {
      check_timeouts();
      g.next_timeout_check = monotonic_ms() + 20;
    }
    flush_replies();
  }
}
