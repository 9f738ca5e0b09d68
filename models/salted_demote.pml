/* models/salted_demote.pml — the give-back protocol of
 * hotshard::salted_counter_map::demote (primitives/include/hotshard/salted_counter_map.hpp).
 *
 * What is modelled, step for step as the code does it:
 *  - Two keys X and Y, each a value word holding a count or the tag of the
 *    pool's one block (so Y can only be salted once X's block came back);
 *    the block has K = 2 sub-counters, each a count and a closed mark.
 *  - add(k): load the value word; a count is added by CAS; a tag makes the
 *    adder open a section (its announcement goes odd), reload the word in
 *    the section, pick a sub-counter (either: the thread probe), load it and
 *    CAS count → count + 1 if it is still open; a closed one makes it help
 *    the fold, reload, and add to the value word. Leaves the section (even).
 *  - promote(k): claim the block (the free list as one flag), move the count
 *    into sub-counter 0 while the block is private, CAS the value word from
 *    that count to the tag; a lost race gives the block back.
 *  - demote(k): in a section, reload the tag, take the block's `retiring`
 *    ownership, fold: close each sub-counter (the CAS that sets the mark
 *    keeps and returns its count), sum, CAS tag → sum; leave the section;
 *    the grace period: for every other process whose announcement is odd,
 *    wait until it changes; then reopen the sub-counters at 0, drop
 *    `retiring`, give the block back.
 *  - Processes: an adder of X and an adder of Y (NADD adds each: 1 in ctest,
 *    -D NADD=2 also verifies, ~3M states, ~25 s), a manager
 *    doing promote X, demote X, promote Y, demote Y, and a second demoter of
 *    X racing the first.
 * Every shared access is one spin step in one total order: the seq_cst the
 * header relies on for the section announcement (G1), the tag loads in a
 * section, the fold CAS (G4) and the grace scan (G3).
 *
 * Proved, for every interleaving: after all processes end, each key's count
 * (its value word, or its block's sum if still salted) is exactly NADD — no
 * add lost, doubled or landed in another key's block; the block is free iff
 * no key holds its tag (no leak, no double give-back); no process is left
 * blocked (spin's invalid end states).
 *
 * Mutants (each must be caught):
 *  -DMUTANT_NO_GRACE: demote reopens and gives the block back without the
 *   grace period — an adder of X that loaded X's tag in its section adds
 *   into the block after Y took it: X loses the add, Y gains it.
 *  -DMUTANT_LATE_ANNOUNCE: the adder follows the tag it loaded before its
 *   announcement (no reload inside the section) — what a relaxed/release
 *   announcement would allow (the store-load reordering of G1 with the tag
 *   load): the grace scan can miss it, and its add lands in Y's block.
 *  -DMUTANT_NO_CLOSE: the fold sums the sub-counters without closing them —
 *   an add that lands after the sum is wiped by the reopen.
 *
 * Not modelled: more than one block (hence no ABA stamp on the free list,
 * argued in the header), K growth and contention salting (they only change
 * which open sub-counter an add picks), the word table (keys are fixed
 * slots), reads (they only load), memory orders weaker than seq_cst.
 */

#define X 0
#define Y 1
#define TAG 255
#ifndef NADD
#define NADD 1
#endif
#define NP 5            /* pids 0 (init) .. 4 */

byte val[2];            /* value words: a count, or TAG */
byte cell[2];           /* the block's sub-counters */
bit closed[2];
bit block_free = 1;
bit retiring;
byte sec[NP];           /* announcements: odd = inside a section */

inline enter() { sec[_pid] = sec[_pid] + 1 }
inline leave() { sec[_pid] = sec[_pid] + 1 }

/* close every sub-counter, sum the kept counts, CAS tag -> sum (G4) */
inline fold(k) {
  i = 0;
  sum = 0;
  do
  :: i < 2 ->
#ifdef MUTANT_NO_CLOSE
     sum = sum + cell[i];
#else
     atomic { closed[i] = 1; sum = sum + cell[i] }
#endif
     i++
  :: else -> break
  od;
  atomic { if :: val[k] == TAG -> val[k] = sum :: else -> skip fi }
}

proctype adder(byte k) {
  byte n, v, c, cv, i, sum;
  bit cl, done;
  do
  :: n < NADD ->
     done = 0;
     v = val[k];
     do
     :: done -> break
     :: !done && v != TAG ->
        atomic { if :: val[k] == v -> val[k] = v + 1; done = 1 :: else -> v = val[k] fi }
     :: !done && v == TAG ->
        enter();
#ifndef MUTANT_LATE_ANNOUNCE
        v = val[k];
#endif
        do
        :: v != TAG -> break
        :: v == TAG ->
           if :: c = 0 :: c = 1 fi;
           atomic { cv = cell[c]; cl = closed[c] };
           if
           :: cl -> fold(k); v = val[k]
           :: !cl ->
              atomic {
                if
                :: cell[c] == cv && !closed[c] -> cell[c] = cv + 1; done = 1
                :: else -> skip
                fi
              };
              if :: done -> break :: else -> skip fi
           fi
        od;
        leave()
     od;
     n++
  :: else -> break
  od
}

inline promote(k) {
  v = val[k];
  if
  :: v == TAG -> skip
  :: else ->
     atomic { if :: block_free -> block_free = 0; got = 1 :: else -> got = 0 fi };
     if
     :: got ->
        do
        :: v == TAG -> cell[0] = 0; block_free = 1; break   /* lost the race: never published */
        :: v != TAG ->
           cell[0] = v;                                     /* the block is still private */
           atomic { if :: val[k] == v -> val[k] = TAG; pub = 1 :: else -> v = val[k]; pub = 0 fi };
           if :: pub -> break :: else -> skip fi
        od
     :: else -> skip
     fi
  fi
}

inline demote(k) {
  enter();
  v = val[k];
  if
  :: v != TAG -> leave()
  :: v == TAG ->
     atomic { if :: !retiring -> retiring = 1; own = 1 :: else -> own = 0 fi };
     if
     :: own ->
        fold(k);
        leave();
#ifndef MUTANT_NO_GRACE
        p = 0;
        do
        :: p < NP ->
           if
           :: p != _pid ->
              s = sec[p];
              if :: s % 2 == 1 -> (sec[p] != s) :: else -> skip fi
           :: else -> skip
           fi;
           p++
        :: else -> break
        od;
#endif
        cell[0] = 0; closed[0] = 0;
        cell[1] = 0; closed[1] = 0;
        retiring = 0;
        block_free = 1
     :: else -> leave()
     fi
  fi
}

proctype manager() {
  byte v, i, sum, p, s;
  bit got, pub, own;
  promote(X);
  demote(X);
  promote(Y);
  demote(Y)
}

proctype demoter() {
  byte v, i, sum, p, s;
  bit own;
  demote(X)
}

init {
  byte k, count;
  atomic {
    run adder(X);
    run adder(Y);
    run manager();
    run demoter()
  }
  (_nr_pr == 1);
  k = 0;
  do
  :: k < 2 ->
     if :: val[k] == TAG -> count = cell[0] + cell[1] :: else -> count = val[k] fi;
     assert(count == NADD);
     k++
  :: else -> break
  od;
  assert(block_free == (val[X] != TAG && val[Y] != TAG));
  assert(!retiring)
}
