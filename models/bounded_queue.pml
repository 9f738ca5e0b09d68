/* models/bounded_queue.pml — the sleeper/event wake-up protocol of
 * hotshard::bounded_queue (primitives/include/hotshard/bounded_queue.hpp).
 *
 * What is modelled, step for step as the code does it:
 *  - Vyukov's ring: push_pos (with the closed bit), pop_pos, one seq word per
 *    cell; try_push/try_pop claim a position with a CAS once the cell is
 *    seen ready, then publish (seq = pos + 1) or release (seq = pos + CAP).
 *  - wake(): after a publish/release, read `sleepers`; if nonzero bump
 *    `event` and notify (one, or all after a bulk op/close).
 *  - sleep_while_empty/full(): read `event`, register in `sleepers`
 *    (seq_cst RMW), re-read push_pos and pop_pos (seq_cst), then yield (the
 *    ring moved), give up (closed) or wait on `event`; unregister.
 *  - C++20 atomic wait as a futex: the value check and the enqueue are one
 *    step; only a notify (one waiter, chosen by spin, or all) dequeues; a
 *    woken waiter re-checks the value (std::atomic::wait loops until it
 *    differs). A waiter not chosen by notify_one stays asleep even though the
 *    value changed — that is what makes "no lost wake-up" non-trivial.
 *  - close(): set the closed bit (an RMW of push_pos), bump both events,
 *    notify_all.
 * Every shared access is one spin step, interleaved in one total order:
 * that is the seq_cst the header relies on.
 *
 * Scenarios (run one after the other by init, each exhaustively; CAP = 2,
 * the smallest capacity the queue accepts — with one cell a full cell's seq
 * equals the next lap's free seq, which is why the code requires ≥ 2):
 *  S1: 2 producers (2 items and 1), 1 consumer popping 3 (producers sleep
 *      on full, the consumer on empty).
 *  S2: 1 producer × 3 items, 2 consumers popping 1 and 2 (two sleepers on
 *      not_empty, notify_one).
 *  S3: 1 producer pushing 3 items until closed, 1 consumer popping until
 *      closed, 1 closer closing at any moment.
 * In S1 and S2 no one closes: a consumer or producer left asleep at the end
 * is an invalid end state = a lost wake-up. In S3 every process must end
 * (close wakes all) and every accepted item must be popped exactly once.
 *
 * Mutant (spin -DWEAK_ORDERING): the sleeper's registration is no longer
 * ordered before its re-check — the store-buffer reordering that relaxed
 * or acq_rel orderings (or a plain store) would allow: the re-check loads may
 * be satisfied before the sleepers increment is visible to producers. spin
 * then finds an invalid end state (a consumer asleep with an item queued).
 *
 * Not modelled: element payloads and destructors (only positions), the
 * bulk operations (they claim runs with the same CAS and wake all), spin
 * attempts and yields before sleeping (they only delay the same steps),
 * counter wrap-around (positions stay tiny here), and any ordering weaker
 * than seq_cst other than the mutant's one reordering.
 */

#define CAP 2
#define NPROC 4            /* pids 0 (init) .. 3 */

byte push_pos;             /* positions claimed by pushes */
bit  closed;               /* bit 63 of push_pos in the code */
byte pop_pos;
byte seq[CAP];

#define NE 0               /* not_empty */
#define NF 1               /* not_full */
byte event[2];             /* waiters::event */
byte sleepers[2];          /* waiters::sleepers */
bit  fx[2 * NPROC];        /* fx[w * NPROC + pid]: pid sleeps in the futex of event[w] */

byte pushed;               /* successful pushes */
byte popped;               /* successful pops */
byte done_pushing;
bit  stop;                 /* the timed consumer's stop_token: stop requested */

inline notify_one(w) {
  atomic {
    if
    :: fx[w * NPROC + 1] -> fx[w * NPROC + 1] = 0
    :: fx[w * NPROC + 2] -> fx[w * NPROC + 2] = 0
    :: fx[w * NPROC + 3] -> fx[w * NPROC + 3] = 0
    :: else -> skip
    fi
  }
}

inline notify_all(w) {
  atomic { fx[w * NPROC + 1] = 0; fx[w * NPROC + 2] = 0; fx[w * NPROC + 3] = 0 }
}

/* std::atomic<uint32_t>::wait(old): returns once the value differs; sleeps
 * in the futex (value check + enqueue in one step) until notified. */
inline atomic_wait(w, old) {
  do
  :: atomic { event[w] != old -> break }
  :: atomic { event[w] == old -> fx[w * NPROC + _pid] = 1 };
     (fx[w * NPROC + _pid] == 0)
  od
}

inline wake(w) {
  if
  :: sleepers[w] == 0 -> skip
  :: else -> event[w]++; notify_one(w)
  fi
}

inline try_push(ok) {
  ok = 0;
  atomic { pos = push_pos; c = closed };
  do
  :: c -> break
  :: else ->
     s = seq[pos % CAP];
     if
     :: s == pos ->
        atomic {   /* (6) seq_cst CAS on push_pos (the closed bit is part of the word) */
          if
          :: push_pos == pos && !closed -> push_pos++; ok = 1
          :: else -> pos = push_pos; c = closed
          fi
        };
        if
        :: ok -> break
        :: else -> skip
        fi
     :: s < pos -> break                              /* full */
     :: s > pos -> atomic { pos = push_pos; c = closed }
     fi
  od;
  if
  :: ok ->
     seq[pos % CAP] = pos + 1;                        /* (2) publish */
     pushed++;
     wake(NE)
  :: else -> skip
  fi
}

inline try_pop(ok) {
  ok = 0;
  pos = pop_pos;
  do
  :: s = seq[pos % CAP];
     if
     :: s == pos + 1 ->
        atomic {   /* (7) seq_cst CAS on pop_pos */
          if
          :: pop_pos == pos -> pop_pos++; ok = 1
          :: else -> pos = pop_pos
          fi
        };
        if
        :: ok -> break
        :: else -> skip
        fi
     :: s < pos + 1 -> break                          /* empty */
     :: s > pos + 1 -> pos = pop_pos
     fi
  od;
  if
  :: ok ->
     popped++;
     seq[pos % CAP] = pos + CAP;                      /* (4) release the cell */
     wake(NF)
  :: else -> skip
  fi
}

/* The registration and the re-check; under WEAK_ORDERING the two re-check
 * loads may also be satisfied before the registration becomes visible. */
inline register_and_recheck(w) {
#ifdef WEAK_ORDERING
  if
  :: sleepers[w]++; atomic { t = push_pos; c = closed }; h = pop_pos
  :: atomic { t = push_pos; c = closed }; h = pop_pos; sleepers[w]++
  fi
#else
  sleepers[w]++;
  atomic { t = push_pos; c = closed };
  h = pop_pos
#endif
}

inline sleep_while_empty(go_on) {
  go_on = 1;
  myev = event[NE];
  register_and_recheck(NE);
  if
  :: t > h -> skip                                    /* a claimed element is being published */
  :: t <= h && c -> go_on = 0
  :: t <= h && !c -> atomic_wait(NE, myev)
  fi;
  sleepers[NE]--
}

inline sleep_while_full(go_on) {
  go_on = 1;
  myev = event[NF];
  register_and_recheck(NF);
  if
  :: c -> go_on = 0
  :: !c && t - h < CAP -> skip                        /* a pop is releasing the cell we need */
  :: !c && t - h >= CAP -> atomic_wait(NF, myev)
  fi;
  sleepers[NF]--
}

/* The futex wait of a timed waiter (FUTEX_WAIT_BITSET with a deadline): as
 * atomic_wait, but the deadline may pass at any moment, leaving the futex
 * queue without a notify. */
inline timed_wait(w, old) {
  do
  :: atomic { event[w] != old -> break }
  :: atomic { event[w] == old -> fx[w * NPROC + _pid] = 1 };
     if
     :: (fx[w * NPROC + _pid] == 0) -> skip               /* notified */
     :: timed -> atomic { fx[w * NPROC + _pid] = 0 }; break  /* deadline */
     fi
  od
}

/* sleep_while_empty(deadline, stop_token): as above, plus the stop check
 * after `event` is read (under STOP_CHECK_EARLY: before it, the mutant). */
inline sleep_while_empty_t(go_on) {
  go_on = 1;
#ifdef STOP_CHECK_EARLY
  sc = stop;
  myev = event[NE];
#else
  myev = event[NE];
#endif
  register_and_recheck(NE);
#ifndef STOP_CHECK_EARLY
  sc = stop;
#endif
  if
  :: t > h -> skip
  :: t <= h && c -> go_on = 0
  :: t <= h && !c && stoppable && sc -> skip          /* the caller returns stopped */
  :: t <= h && !c && !(stoppable && sc) -> timed_wait(NE, myev); slept = 1
  fi;
  sleepers[NE]--
}

/* pop_until(out, deadline, stop_token): after a failed try, give up if stop
 * was requested or (nondeterministically, when timed) the deadline passed.
 * Mutant GIVE_UP_ON_WAKE: a waiter whose deadline passed gives up straight
 * out of its sleep, without the retry — possibly with a notify_one meant for
 * the queue. */
inline pop_until(result) {
  do
  :: try_pop(result);
     if
     :: result -> break
     :: else -> skip
     fi;
     if
     :: stoppable && stop -> break
     :: else -> skip
     fi;
     if
     :: timed -> break                                /* deadline passed */
     :: true -> skip
     fi;
     slept = 0;
     sleep_while_empty_t(go_on);
     if
     :: !go_on -> break
     :: else -> skip
     fi;
#ifdef GIVE_UP_ON_WAKE
     if
     :: timed && slept -> break
     :: true -> skip
     fi
#endif
  od
}

/* bounded_queue::push: false once closed. */
inline push(result) {
  do
  :: try_push(result);
     if
     :: result -> break
     :: else -> skip
     fi;
     if
     :: closed -> break
     :: else -> skip
     fi;
     sleep_while_full(go_on);
     if
     :: !go_on -> break
     :: else -> skip
     fi
  od
}

/* bounded_queue::pop: false once closed and drained. */
inline pop(result) {
  do
  :: try_pop(result);
     if
     :: result -> break
     :: else -> skip
     fi;
     sleep_while_empty(go_on);
     if
     :: !go_on -> break
     :: else -> skip
     fi
  od
}

proctype producer(byte items) {
  byte pos, s, t, h, myev; bit c, ok, go_on, result;
  byte i = 0;
  do
  :: i < items ->
     push(result);
     if
     :: result -> i++
     :: else -> break   /* closed */
     fi
  :: else -> break
  od;
  done_pushing++
}

/* Pops `items` (0 = until closed and drained). */
proctype consumer(byte items) {
  byte pos, s, t, h, myev; bit c, ok, go_on, result;
  byte i = 0;
  do
  :: items == 0 || i < items ->
     pop(result);
     if
     :: result -> i++
     :: else -> assert(items == 0); break
     fi
  :: else -> break
  od
}

/* One pop_until (timed: the deadline may pass; stoppable: watches `stop`),
 * then, once all `n` items are popped, closes so that `waiter` may end. */
proctype tconsumer(bit timed; bit stoppable; byte n) {
  byte pos, s, t, h, myev; bit c, ok, go_on, result, sc, slept;
  pop_until(result);
  if
  :: popped == n ->
     closed = 1;
     event[NE]++; notify_all(NE);
     event[NF]++; notify_all(NF)
  :: else -> skip
  fi
}

/* Pops with plain pop() until `n` items are popped in all (or closed). */
proctype waiter(byte n) {
  byte pos, s, t, h, myev; bit c, ok, go_on, result;
  do
  :: popped < n ->
     pop(result);
     if
     :: result -> skip
     :: else -> break
     fi
  :: else -> break
  od
}

/* request_stop(): the stop state is set, then the stop_callback runs. */
proctype stopper() {
  stop = 1;
  event[NE]++; notify_all(NE)                          /* (5') */
}

proctype closer() {
  closed = 1;                                         /* (8) */
  event[NE]++; notify_all(NE);                        /* (5) */
  event[NF]++; notify_all(NF)
}

inline reset() {
  push_pos = 0; closed = 0; pop_pos = 0;
  seq[0] = 0; seq[1] = 1;
  event[NE] = 0; sleepers[NE] = 0; event[NF] = 0; sleepers[NF] = 0;
  pushed = 0; popped = 0; done_pushing = 0; stop = 0
}

init {
  reset();
  /* S1 */
  atomic { run producer(2); run producer(1); run consumer(3) };
  (_nr_pr == 1);
  assert(pushed == 3 && popped == 3 && sleepers[NE] == 0 && sleepers[NF] == 0);

  reset();
  /* S2 */
  atomic { run producer(3); run consumer(1); run consumer(2) };
  (_nr_pr == 1);
  assert(pushed == 3 && popped == 3 && sleepers[NE] == 0 && sleepers[NF] == 0);

  reset();
  /* S3 */
  atomic { run producer(3); run consumer(0); run closer() };
  (_nr_pr == 1);
  assert(popped == pushed && closed);

  reset();
  /* S4: a timed pop_until beside a plain pop(), one item: the item is popped
   * by one of them and both end (a timed waiter never swallows the wake-up). */
  atomic { run producer(1); run tconsumer(1, 0, 1); run waiter(1) };
  (_nr_pr == 1);
  assert(pushed == 1 && popped == 1);

  reset();
  /* S5: a stoppable pop (no deadline) beside a plain pop(), one item, and a
   * stop request at any moment: the stoppable one ends (the stop wakes it). */
  atomic { run producer(1); run tconsumer(0, 1, 1); run waiter(1); run stopper() };
  (_nr_pr == 1);
  assert(pushed == 1 && popped == 1)
}
