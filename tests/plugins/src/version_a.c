/* version_a.c: one of two versions of the same plugin (hot-swap tests). */
#include "wasimancer-pdk.h"

/* Output: {"version":"a"}. */
WM_EXPORT(whoami) int32_t whoami(void) {
  wm_output_str("{\"version\":\"a\"}");
  return 0;
}

/* Drop-in for the roll-dice sample plugin. Output: "A". */
WM_EXPORT(rollDice) int32_t rollDice(void) {
  wm_output_str("A");
  return 0;
}
