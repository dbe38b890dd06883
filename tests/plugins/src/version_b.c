/* version_b.c: one of two versions of the same plugin (hot-swap tests). */
#include "wasimancer-pdk.h"

/* Output: {"version":"b"}. */
WM_EXPORT(whoami) int32_t whoami(void) {
  wm_output_str("{\"version\":\"b\"}");
  return 0;
}

/* Drop-in for the roll-dice sample plugin. Output: "B". */
WM_EXPORT(rollDice) int32_t rollDice(void) {
  wm_output_str("B");
  return 0;
}
