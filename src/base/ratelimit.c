/* Token bucket; see ratelimit.h. All amounts inside are millibytes. */
#include "base/ratelimit.h"

static uint64_t clamp(uint64_t v, uint64_t max) { return v > max ? max : v; }

static uint64_t default_burst(uint64_t rate)
{
  uint64_t b = rate / 5; /* 200 ms */
  return b < SH_RATELIMIT_MIN_BURST ? SH_RATELIMIT_MIN_BURST : b;
}

/* Tokens the bucket would hold at now_ms. A clock that steps back gives no
 * credit (and the next forward step refills from the old mark). */
static uint64_t level(const struct sh_ratelimit *rl, uint64_t now_ms)
{
  uint64_t cap = rl->burst * 1000;
  if (now_ms <= rl->last_ms || rl->tokens >= cap)
    return rl->tokens < cap ? rl->tokens : cap;
  uint64_t dt = now_ms - rl->last_ms, room = cap - rl->tokens;
  /* rate is millibytes per ms; test before multiplying so a long pause
   * (dt up to 2^64) cannot overflow: rate * dt <= room + rate here */
  if (dt >= room / rl->rate + 1)
    return cap;
  uint64_t add = rl->rate * dt;
  return add >= room ? cap : rl->tokens + add;
}

static void refill(struct sh_ratelimit *rl, uint64_t now_ms)
{
  rl->tokens = level(rl, now_ms);
  if (now_ms > rl->last_ms)
    rl->last_ms = now_ms;
}

void sh_ratelimit_set(struct sh_ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ms)
{
  if (rl->rate)
    refill(rl, now_ms); /* bank what the old rate earned */
  rl->rate = clamp(rate, SH_RATELIMIT_MAX_RATE);
  rl->burst = clamp(burst ? burst : default_burst(rl->rate), SH_RATELIMIT_MAX_BURST);
  if (rl->tokens > rl->burst * 1000)
    rl->tokens = rl->burst * 1000;
  rl->last_ms = now_ms;
}

void sh_ratelimit_init(struct sh_ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ms)
{
  rl->rate = 0;
  rl->tokens = 0;
  sh_ratelimit_set(rl, rate, burst, now_ms);
  rl->tokens = rl->burst * 1000;
}

uint64_t sh_ratelimit_take(struct sh_ratelimit *rl, uint64_t now_ms, uint64_t want)
{
  if (!rl->rate)
    return want;
  refill(rl, now_ms);
  uint64_t have = rl->tokens / 1000;
  uint64_t grant = want < have ? want : have;
  rl->tokens -= grant * 1000;
  return grant;
}

uint64_t sh_ratelimit_wait_ms(const struct sh_ratelimit *rl, uint64_t now_ms, uint64_t want)
{
  if (!rl->rate || want == 0)
    return 0;
  uint64_t need = (want < rl->burst ? want : rl->burst) * 1000;
  uint64_t have = level(rl, now_ms);
  if (have >= need)
    return 0;
  /* a backwards clock waits from the refill mark, i.e. a little longer */
  uint64_t behind = now_ms < rl->last_ms ? rl->last_ms - now_ms : 0;
  return (need - have + rl->rate - 1) / rl->rate + behind;
}

void sh_ratelimit_refund(struct sh_ratelimit *rl, uint64_t bytes)
{
  if (!rl->rate)
    return;
  uint64_t cap = rl->burst * 1000, room = cap - (rl->tokens < cap ? rl->tokens : cap);
  uint64_t add = bytes > room / 1000 ? room : bytes * 1000;
  rl->tokens += add;
}

uint64_t sh_ratelimit_take2(struct sh_ratelimit *a, struct sh_ratelimit *b, uint64_t now_ms,
                            uint64_t want)
{
  uint64_t g = a ? sh_ratelimit_take(a, now_ms, want) : want;
  uint64_t h = b ? sh_ratelimit_take(b, now_ms, g) : g;
  if (a && h < g)
    sh_ratelimit_refund(a, g - h);
  return h;
}

uint64_t sh_ratelimit_wait2_ms(const struct sh_ratelimit *a, const struct sh_ratelimit *b,
                               uint64_t now_ms, uint64_t want)
{
  uint64_t x = a ? sh_ratelimit_wait_ms(a, now_ms, want) : 0;
  uint64_t y = b ? sh_ratelimit_wait_ms(b, now_ms, want) : 0;
  return x > y ? x : y;
}
