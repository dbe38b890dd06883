/* roll_dice.c: export rollDice (tool throwDice in examples/plugins/plugins.yml) {"numFaces":6,"numDice":2} -> "7" (the sum), as WASImancer's sample. */
#include <sys/random.h>

#include "args.h"

WM_EXPORT(rollDice) int32_t rollDice(void) {
  const char *args = args_input(0);
  int64_t faces = args_int(args, "numFaces", 6), dice = args_int(args, "numDice", 1);
  if (faces < 1 || faces > 1000000 || dice < 0 || dice > 1000) {
    wm_error_str("numFaces must be 1..1000000 and numDice 0..1000");
    return 1;
  }
  uint64_t sum = 0;
  for (int64_t i = 0; i < dice; i++) {
    uint32_t r;
    if (getentropy(&r, sizeof r) != 0) {
      wm_error_str("no randomness available");
      return 1;
    }
    sum += 1 + r % (uint32_t)faces;
  }
  wm_output_u64(sum);
  return 0;
}
