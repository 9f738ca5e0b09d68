/* models/single_flight.pml — the slot protocol of hotshard/single_flight.hpp.
 *
 * One slot (a window of 1), NPROC callers looping forever over two keys. Each
 * call is run (leader or joiner), run_for (a joiner that may give up), or
 * forget. Modelled steps, each one atomic step as in the C++ (one load, one
 * RMW or CAS, or one plain store): claim CAS (straight to PENDING), clear of
 * `published`, key store, the reveal (phase := revealed), the verdict (phase
 * := won; with one slot no other claim can beat ours), loader (may fail: the
 * non-trivial free path), the leader's solo free CAS, publish + close RMW,
 * pin, the pinner's bounded wait for the reveal (it may give up at any
 * moment), leave, last-out free (direct CAS, or FREEING then FREE), forget's
 * pin and fetch_or, timeouts, and a key copy that throws after the claim
 * (phase := lost, retire).
 * The generation has GEN_BITS bits (2 by default), so wrap-around is reached
 * after four flights.
 *
 * Properties (assertions):
 *  - a joiner that returns a value returns its own flight's: the flight it
 *    pinned has finished its loader (ghost `written`) and the value is of the
 *    joiner's key;
 *  - no slot leaks: whenever no call is running, the slot is FREE with no refs.
 * Spin also checks that no reachable state has every caller blocked.
 *
 * -DMUTANT_GENERATION_WRAP: the old protocol (a solo flight frees the slot
 * without publishing and the claim does not clear `published`, so a joiner
 * compares a wrapped generation with a stale one): must violate the first
 * assertion.
 * -DMUTANT_NO_REVEAL_WAIT: a pinner compares the key as soon as its pin
 * lands, without waiting for the claimer's reveal (the claim CAS makes a
 * flight joinable before its key is written): must violate the first
 * assertion (it reads the previous flight's key).
 */

#ifndef NPROC
#define NPROC 2
#endif
#ifndef GEN_BITS
#define GEN_BITS 2
#endif
#define GENS (1 << GEN_BITS)
#define NONE 255      /* `published` of a flight without result: no generation equals it */
#define NOKEY 255
#define ATTEMPTS 2    /* max_attempts, then the caller loads alone (overflow) */

mtype = { FREE, PENDING, DONE, DEAD, FREEING };
mtype = { K_NONE, K_VALUE, K_ERROR, K_ABORTED };

/* The slot word: state, refs, generation, forgotten bit. */
mtype st = FREE;
byte refs = 0;
byte gen = 0;
bool forgotten = false;
/* The payload. */
byte key = NOKEY;
byte published = NONE;
byte value = NOKEY;   /* the key of the loader that wrote it */
mtype kind = K_NONE;
/* slot::phase: the generation it is tagged with, and the phase. */
byte pgen = 0;
byte ph = 0;          /* 0 claimed, 1 revealed, 2 won, 3 lost */
bool error = false;   /* an exception is held: the solo free shortcut is off */
/* Ghosts. */
bool written = false; /* the current flight's loader has finished */
byte busy = 0;        /* calls in progress */

#define joinable(s, f) (!(f) && (s) == PENDING)

/* try_free(w): w = (ws, wr, wg, wf), the word we saw drop to refs 0. */
inline try_free(ws, wr, wg, wf) {
  if
  :: (ws == DONE || ws == DEAD) ->
     if
     :: !error ->
        atomic { if :: (st == ws && refs == wr && gen == wg && forgotten == wf) -> st = FREE; forgotten = false
                    :: else -> skip fi }
     :: else ->
        atomic { if :: (st == ws && refs == wr && gen == wg && forgotten == wf) -> st = FREEING; forgotten = false; freeing = true
                    :: else -> freeing = false fi };
        if
        :: freeing -> key = NOKEY; value = NOKEY; error = false; kind = K_NONE;
                      st = FREE   /* fetch_add: keeps pins that arrived meanwhile */
        :: else -> skip
        fi
     fi
  :: else -> skip
  fi
}

inline leave() {
  atomic { refs--; ls = st; lr = refs; lg = gen; lf = forgotten };
  if :: lr == 0 -> try_free(ls, lr, lg, lf) :: else -> skip fi;
  d_step { ls = 0; lr = 0; lg = 0; lf = false; freeing = false }   /* dead temporaries: keep states few */
}

/* finish(to): publish, then close the flight and drop the owner's ref in one RMW. */
inline finish(to) {
  published = mygen;
  atomic { st = to; refs--; ls = st; lr = refs; lg = gen; lf = forgotten };
  if :: lr == 0 -> try_free(ls, lr, lg, lf) :: else -> skip fi;   /* else: notify the waiters */
  d_step { ls = 0; lr = 0; lg = 0; lf = false; freeing = false }
}

/* After a pin of a joinable flight (ok): wait for its claimer to reveal the
 * key (bounded: the wait may give up at any moment, leaving the flight
 * undecided), then compare keys. A lost flight is never joined. */
inline check_pinned(k) {
#ifndef MUTANT_NO_REVEAL_WAIT
  if
  :: ok ->
     if
     :: atomic { (pgen == mygen && ph >= 1) -> ok = (ph != 3) }
     :: ok = false
     fi
  :: else -> skip
  fi;
#endif
  if :: ok -> ok = (key == k) :: else -> skip fi
}

active [NPROC] proctype caller() {
  byte k, mygen, attempt, ls, lr, lg;
  bool lf, freeing, ok;
  mtype ws;
  bool wf;

  do
  :: atomic { if :: k = 0 :: k = 1 fi; busy++ };
     if
     :: /* forget(k) */
        atomic { ws = st; wf = forgotten };
        if
        :: joinable(ws, wf) ->
           atomic { refs++; ok = joinable(st, forgotten); mygen = gen };
           check_pinned(k);
           if :: ok -> forgotten = true :: else -> skip fi;
           leave()
        :: else -> skip
        fi
     :: /* run(k) or run_for(k) */
        attempt = 0;
        do
        :: attempt == ATTEMPTS -> break   /* overflow: load alone, no slot */
        :: else ->
           attempt++;
           atomic { ws = st; wf = forgotten; lr = refs; lg = gen };   /* pass 1: one load */
           if
           :: joinable(ws, wf) ->
              atomic { refs++; ok = joinable(st, forgotten); mygen = gen; ws = FREE; wf = false; lr = 0; lg = 0 };   /* pin */
              check_pinned(k);
              if
              :: ok ->
                 if
                 :: (published == mygen) ->
                    if
                    :: kind == K_ABORTED -> leave()   /* a beaten claim: go round again */
                    :: else ->
                       assert(written && (kind == K_ERROR || value == k));
                       leave(); break
                    fi
                 :: true -> leave(); break   /* run_for timed out (or the copy threw): leave unread */
                 fi
              :: else -> leave()
              fi
           :: (ws == FREE && lr == 0) ->
              atomic {   /* claim CAS (acquire) */
                if
                :: (st == FREE && refs == 0 && gen == lg && !forgotten) ->
                   st = PENDING; refs = 1; gen = (gen + 1) % GENS; mygen = gen; written = false; ok = true
                :: else -> ok = false
                fi
              };
              if
              :: ok ->
#ifndef MUTANT_GENERATION_WRAP
                 published = NONE;   /* before the key is revealed */
#endif
                 if
                 :: key = k
                 :: /* copying the key threw: lost, give the claim back, rethrow */
                    atomic { pgen = mygen; ph = 3 };
                    kind = K_ABORTED; finish(DEAD); break
                 fi;
                 atomic { pgen = mygen; ph = 1 };   /* (4) the reveal */
                 ph = 2;                             /* the verdict: with one slot nobody beats our claim */
                 /* the loader, and the leader's own copy */
                 if
                 :: value = k; kind = K_VALUE; written = true
                 :: error = true; kind = K_ERROR; written = true
                 fi;
                 if
                 :: !error ->
                    atomic {   /* solo free CAS: nobody pinned or forgot the flight */
                      if
                      :: (st == PENDING && refs == 1 && !forgotten) -> st = FREE; refs = 0; ok = true
                      :: else -> ok = false
                      fi
                    }
                 :: else -> ok = false
                 fi;
                 if :: ok -> skip :: else -> finish(DONE) fi;
                 break
              :: else -> skip   /* claimed first by somebody else: go round */
              fi
           :: else -> break   /* slot busy: load alone */
           fi
        od
     fi;
     atomic {
       busy--;
       assert(busy > 0 || (st == FREE && refs == 0));   /* no slot leaks */
       k = 0; mygen = 0; attempt = 0; ls = 0; lr = 0; lg = 0; lf = false; freeing = false; ok = false;
       ws = FREE; wf = false
     }
  od
}
