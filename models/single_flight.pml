/* models/single_flight.pml — the slot protocol of hotshard/single_flight.hpp.
 *
 * One slot (a window of 1), NPROC callers looping forever over two keys. Each
 * call is run (leader or joiner), run_for (a joiner that may give up), or
 * forget. Modelled steps, each one atomic step as in the C++ (one load, one
 * RMW or CAS, or one plain store): claim CAS, clear of `published`, key
 * store, PENDING, commit, loader (may fail: the non-trivial free path), the
 * leader's solo free CAS, publish + close RMW, pin, leave, last-out free
 * (direct CAS, or FREEING then FREE), forget's pin and fetch_or, timeouts,
 * and a key copy that throws after the claim (retire from CLAIMED).
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

mtype = { FREE, CLAIMED, PENDING, LOADING, DONE, DEAD, FREEING };
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
bool error = false;   /* an exception is held: the solo free shortcut is off */
/* Ghosts. */
bool written = false; /* the current flight's loader has finished */
byte busy = 0;        /* calls in progress */

#define joinable(s, f) (!(f) && ((s) == PENDING || (s) == LOADING))

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
           atomic { refs++; ok = joinable(st, forgotten) && key == k };
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
              atomic { refs++; ok = joinable(st, forgotten) && key == k; mygen = gen; ws = FREE; wf = false; lr = 0; lg = 0 };   /* pin */
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
                   st = CLAIMED; refs = 1; gen = (gen + 1) % GENS; mygen = gen; written = false; ok = true
                :: else -> ok = false
                fi
              };
              if
              :: ok ->
#ifndef MUTANT_GENERATION_WRAP
                 published = NONE;   /* before the flight becomes joinable */
#endif
                 if
                 :: key = k
                 :: /* copying the key threw: give the claim back, rethrow */
                    kind = K_ABORTED; finish(DEAD); break
                 fi;
                 st = PENDING;   /* (4): the key is published */
                 st = LOADING;   /* commit: with one slot nobody can kill our claim */
                 /* the loader, and the leader's own copy */
                 if
                 :: value = k; kind = K_VALUE; written = true
                 :: error = true; kind = K_ERROR; written = true
                 fi;
                 if
                 :: !error ->
                    atomic {   /* solo free CAS: nobody pinned or forgot the flight */
                      if
                      :: (st == LOADING && refs == 1 && !forgotten) -> st = FREE; refs = 0; ok = true
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
