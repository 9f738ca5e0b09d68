/* models/single_flight_window.pml — the claim race of hotshard/single_flight.hpp:
 * two claims of one key in one probe window (Purcell–Harris, with verdicts).
 *
 * A window of SLOTS = 2 slots (positions 0 and 1) and NPROC callers (2 by
 * default) looping forever over one key, each call claiming a flight (the
 * joiners' result wait is single_flight.pml's subject; here a caller that
 * loses joins nobody). Steps, each one atomic step as in the C++: the claim
 * CAS on any free slot (a superset of "the first free slot pass 1 saw": pass
 * 1's view may be stale by then), the reveal (phase := revealed), pass 2 over
 * the other slot — a load, a pin, a bounded wait for the rival's reveal and,
 * for a later rival, for its verdict (either wait may give up at any moment:
 * the caller then loses, as in the C++) —, the verdict (won or lost), the
 * loader (ghost `loading`), the close RMW (DONE or DEAD) and the last-out
 * free (a leave, then a CAS from the word it saw). The generation has GEN_BITS
 * bits (2 by default), so slot reuse and phase words of earlier flights are
 * in play.
 *
 * Property (assertion): at most one flight of the key runs its loader at a
 * time — two claims racing in the window never both win. Spin also checks
 * that no reachable state has every caller blocked.
 *
 * -DMUTANT_NO_VERDICT_WAIT: an earlier claimer that sees a later claim of the
 * key goes on without waiting for its verdict (as if it had lost): must
 * violate the assertion (the later claim, which did not see the earlier one,
 * wins too).
 */

#ifndef NPROC
#define NPROC 2
#endif
#ifndef GEN_BITS
#define GEN_BITS 2
#endif
#define GENS (1 << GEN_BITS)
#define SLOTS 2

mtype = { FREE, PENDING, DONE, DEAD };

/* Per slot: the word (state, refs, generation) and slot::phase (its
 * generation and phase: 0 claimed, 1 revealed, 2 won, 3 lost). */
mtype st[SLOTS] = FREE;
byte refs[SLOTS];
byte gen[SLOTS];
byte pgen[SLOTS];
byte ph[SLOTS];
byte loading = 0;     /* ghost: won flights running their loader */

/* leave(s): drop a ref; the last one out of a closed flight frees it (a CAS
 * from the word it saw; if it fails somebody pinned meanwhile, and that
 * caller's own leave frees it). */
inline leave(s) {
  atomic { refs[s]--; lr = refs[s]; ls = st[s]; lg = gen[s] };
  if
  :: lr == 0 && (ls == DONE || ls == DEAD) ->
     atomic { if :: (st[s] == ls && refs[s] == 0 && gen[s] == lg) -> st[s] = FREE :: else -> skip fi }
  :: else -> skip
  fi;
  d_step { lr = 0; ls = FREE; lg = 0 }
}

/* close(s, to): the owner's close RMW (DONE or DEAD) drops its ref. */
inline close(s, to) {
  atomic { st[s] = to; refs[s]--; lr = refs[s]; ls = st[s]; lg = gen[s] };
  if
  :: lr == 0 ->
     atomic { if :: (st[s] == ls && refs[s] == 0 && gen[s] == lg) -> st[s] = FREE :: else -> skip fi }
  :: else -> skip
  fi;
  d_step { lr = 0; ls = FREE; lg = 0 }
}

active [NPROC] proctype caller() {
  byte own, other, mygen, og, verdict, lr, lg;
  mtype ls;
  bool ok, beaten, target;

  do
  :: /* the claim CAS: FREE -> PENDING with refs 1, generation + 1 */
     if
     :: atomic { (st[0] == FREE && refs[0] == 0) -> st[0] = PENDING; refs[0] = 1; gen[0] = (gen[0] + 1) % GENS;
                 mygen = gen[0]; own = 0; other = 1 }
     :: atomic { (st[1] == FREE && refs[1] == 0) -> st[1] = PENDING; refs[1] = 1; gen[1] = (gen[1] + 1) % GENS;
                 mygen = gen[1]; own = 1; other = 0 }
     fi;
     atomic { pgen[own] = mygen; ph[own] = 1 };   /* (4) the reveal */
     /* pass 2: the other slot of the window */
     beaten = false; target = false;
     if
     :: st[other] == PENDING ->                                  /* (5) one load */
        atomic { refs[other]++; ok = (st[other] == PENDING); og = gen[other] };   /* pin */
        if
        :: ok ->
           if
           :: atomic { (pgen[other] == og && ph[other] >= 1) -> ok = (ph[other] != 3) }   /* revealed (or lost) */
           :: beaten = true; ok = false                                                   /* undecided: we lose */
           fi
        :: else -> skip
        fi;
        if
        :: ok && other < own -> target = true                  /* an earlier claim beats ours */
        :: ok && other > own ->
#ifndef MUTANT_NO_VERDICT_WAIT
           if
           :: atomic { (pgen[other] == og && ph[other] >= 2) -> verdict = ph[other] }
           :: verdict = 0                                       /* waited long enough: undecided */
           fi;
           if
           :: verdict == 2 -> target = true                     /* it won: join it */
           :: verdict == 3 -> skip                              /* it lost: go on */
           :: verdict == 0 -> beaten = true
           fi
#else
           skip
#endif
        :: else -> skip
        fi;
        if :: !target -> leave(other) :: else -> skip fi
     :: else -> skip
     fi;
     if
     :: !target && !beaten ->
        ph[own] = 2;                                            /* (6) won */
        loading++;
        assert(loading == 1);                                   /* one loader of the key at a time */
        loading--;
        close(own, DONE)
     :: else ->
        ph[own] = 3;                                            /* (6) lost: retire */
        close(own, DEAD);
        if :: target -> leave(other) :: else -> skip fi        /* (a joiner would wait here) */
     fi;
     d_step { own = 0; other = 0; mygen = 0; og = 0; verdict = 0; ok = false; beaten = false; target = false }
  od
}
