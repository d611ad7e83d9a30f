/*
 * loadgen: the connection-per-request load generator of merhaba's benchmark.
 *
 * Keeps CONCURRENCY connections in flight against HOST:PORT for SECONDS. Each
 * one connects, sends REQUEST, reads until the server closes, and counts only
 * if the whole reply arrived: for an HTTP reply, headers plus Content-Length
 * bytes of body; otherwise exactly EXPECT bytes. It then closes with RST
 * (SO_LINGER 0) so client ports do not pile up in TIME_WAIT.
 *
 *   loadgen -h 127.0.0.1 -p 8080 -c 64 -d 10 -r 'GET / HTTP/1.1\r\n\r\n' -e 15
 *
 * With -u it is a UDP load generator instead: each of CONCURRENCY sockets
 * sends REQUEST as one datagram and waits for one datagram back (EXPECT bytes
 * if given), then sends again; a datagram unanswered within 200 ms counts as
 * failed and is sent again.
 *
 * Prints one JSON object: completed, failed, seconds, per_second, p50_us,
 * p99_us. Linux only (epoll).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_BYTES 2048
#define CONNECTION_TIMEOUT_NS (10LL * 1000 * 1000 * 1000)
#define DATAGRAM_TIMEOUT_NS (200LL * 1000 * 1000)

enum state { IDLE, CONNECTING, READING };

struct slot {
  int fd;
  enum state state;
  int64_t started_ns;
  size_t received;
  size_t head_len;
  char head[HEAD_BYTES];
};

static struct sockaddr_storage address;
static socklen_t address_len;
static const char *request = "hello\n";
static size_t request_len;
static long expect = -1;
static int epoll_fd;
static long completed, failed;
static int udp;
static int64_t *latencies;
static size_t latencies_len, latencies_cap;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Turns the two-character escapes \r \n \t \\ into their bytes. */
static char *unescape(const char *text) {
  char *out = malloc(strlen(text) + 1), *o = out;
  for (const char *p = text; *p; p++) {
    if (*p == '\\' && p[1]) {
      p++;
      *o++ = *p == 'r' ? '\r' : *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
    } else {
      *o++ = *p;
    }
  }
  *o = 0;
  request_len = (size_t)(o - out);
  return out;
}

static void close_with_reset(struct slot *s) {
  struct linger linger = {1, 0};
  setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
  close(s->fd);
  s->fd = -1;
  s->state = IDLE;
}

static void record(struct slot *s);

/* Sends the request on a slot's UDP socket, opening and connecting it first. */
static void send_datagram(struct slot *s) {
  if (s->fd < 0) {
    s->fd = socket(address.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&address, address_len) < 0) {
      perror("udp socket");
      exit(1);
    }
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = s};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, s->fd, &event);
  }
  s->started_ns = now_ns();
  s->state = READING;
  if (send(s->fd, request, request_len, 0) != (ssize_t)request_len) failed++;
}

/* A datagram arrived on a slot's socket: count it, and send the next. */
static void on_datagram(struct slot *s) {
  char buffer[65536];
  for (;;) {
    ssize_t n = recv(s->fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) failed++;
      return;
    }
    if (s->state != READING) continue;
    s->received = (size_t)n;
    s->head_len = 0;
    record(s);
    s->state = IDLE;
  }
}

static void start(struct slot *s) {
  if (udp) {
    send_datagram(s);
    return;
  }
  s->fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (s->fd < 0) {
    perror("socket");
    exit(1);
  }
  s->started_ns = now_ns();
  s->received = 0;
  s->head_len = 0;
  s->state = CONNECTING;
  if (connect(s->fd, (struct sockaddr *)&address, address_len) < 0 &&
      errno != EINPROGRESS) {
    failed++;
    close_with_reset(s);
    return;
  }
  struct epoll_event event = {.events = EPOLLOUT, .data.ptr = s};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, s->fd, &event);
}

/* Whether what arrived is a whole reply. */
static int reply_complete(const struct slot *s) {
  if (s->head_len >= 5 && memcmp(s->head, "HTTP/", 5) == 0) {
    const char *end = memmem(s->head, s->head_len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t header_len = (size_t)(end - s->head) + 4;
    long length = -1;
    for (const char *line = s->head; line < end; line = strstr(line, "\r\n") + 2) {
      if (strncasecmp(line, "Content-Length:", 15) == 0) length = atol(line + 15);
    }
    return length >= 0 && s->received == header_len + (size_t)length;
  }
  return expect < 0 ? s->received > 0 : s->received == (size_t)expect;
}

static void record(struct slot *s) {
  if (!reply_complete(s)) {
    failed++;
    return;
  }
  completed++;
  if (latencies_len == latencies_cap) {
    latencies_cap = latencies_cap ? latencies_cap * 2 : 65536;
    latencies = realloc(latencies, latencies_cap * sizeof *latencies);
  }
  latencies[latencies_len++] = now_ns() - s->started_ns;
}

static void on_event(struct slot *s, uint32_t events) {
  if (udp) {
    on_datagram(s);
    return;
  }
  if (s->state == CONNECTING) {
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error || (events & EPOLLERR)) {
      failed++;
      close_with_reset(s);
      return;
    }
    if (send(s->fd, request, request_len, MSG_NOSIGNAL) != (ssize_t)request_len) {
      failed++;
      close_with_reset(s);
      return;
    }
    s->state = READING;
    struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = s};
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, s->fd, &event);
    return;
  }
  char buffer[16384];
  for (;;) {
    ssize_t n = recv(s->fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      size_t room = HEAD_BYTES - s->head_len;
      size_t keep = (size_t)n < room ? (size_t)n : room;
      memcpy(s->head + s->head_len, buffer, keep);
      s->head_len += keep;
      s->received += (size_t)n;
      continue;
    }
    if (n == 0) {
      record(s);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else {
      failed++;
    }
    close_with_reset(s);
    return;
  }
}

static int compare(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static double percentile_us(double p) {
  if (latencies_len == 0) return 0;
  size_t index = (size_t)(p * (double)(latencies_len - 1));
  return (double)latencies[index] / 1000.0;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0, concurrency = 1;
  double seconds = 5;
  int opt;
  while ((opt = getopt(argc, argv, "h:p:c:d:r:e:u")) != -1) {
    switch (opt) {
      case 'h': host = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'c': concurrency = atoi(optarg); break;
      case 'd': seconds = atof(optarg); break;
      case 'r': request = unescape(optarg); break;
      case 'e': expect = atol(optarg); break;
      case 'u': udp = 1; break;
      default:
        fprintf(stderr, "usage: %s -h HOST -p PORT -c N -d SECONDS [-r REQUEST] [-e BYTES] [-u]\n", argv[0]);
        return 2;
    }
  }
  if (!request_len) request_len = strlen(request);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    address_len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    address_len = sizeof *v6;
  } else {
    fprintf(stderr, "loadgen: %s is not an IP address\n", host);
    return 2;
  }

  epoll_fd = epoll_create1(0);
  struct slot *slots = calloc((size_t)concurrency, sizeof *slots);
  for (int i = 0; i < concurrency; i++) slots[i].fd = -1;
  for (int i = 0; i < concurrency; i++) start(&slots[i]);
  int64_t began = now_ns();
  int64_t deadline = began + (int64_t)(seconds * 1e9);
  struct epoll_event events[256];
  for (;;) {
    int64_t now = now_ns();
    if (now >= deadline) break;
    int wait_ms = (int)((deadline - now) / 1000000) + 1;
    int n = epoll_wait(epoll_fd, events, 256, wait_ms < 100 ? wait_ms : 100);
    for (int i = 0; i < n; i++) on_event(events[i].data.ptr, events[i].events);
    now = now_ns();
    for (int i = 0; i < concurrency; i++) {
      struct slot *s = &slots[i];
      if (udp && s->state == READING &&
          now - s->started_ns > DATAGRAM_TIMEOUT_NS) {
        failed++;
        s->state = IDLE;
      } else if (!udp && s->state != IDLE &&
                 now - s->started_ns > CONNECTION_TIMEOUT_NS) {
        failed++;
        close_with_reset(s);
      }
      if (s->state == IDLE && now < deadline) start(s);
    }
  }
  double elapsed = (double)(now_ns() - began) / 1e9;
  for (int i = 0; i < concurrency; i++) {
    if (udp && slots[i].fd >= 0) close(slots[i].fd);
    else if (!udp && slots[i].state != IDLE) close_with_reset(&slots[i]);
  }
  qsort(latencies, latencies_len, sizeof *latencies, compare);
  printf("{\"completed\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"per_second\":%.1f,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
         completed, failed, elapsed, (double)completed / elapsed,
         percentile_us(0.50), percentile_us(0.99));
  return 0;
}
