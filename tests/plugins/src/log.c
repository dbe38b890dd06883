/* log.c: log_* and get_log_level. */
#include "wasimancer-pdk.h"

/* Logs "trace msg", "debug msg", "info msg", "warn msg", "error msg" at their
 * levels, skipping levels below get_log_level(). Output: how many were sent
 * (decimal): 5 at trace, 4 at debug, 3 at info, 2 at warn, 1 at error, 0 when off. */
WM_EXPORT(log_all) int32_t log_all(void) {
  int sent = 0;
  sent += wm_log(WM_LOG_TRACE, "trace msg");
  sent += wm_log(WM_LOG_DEBUG, "debug msg");
  sent += wm_log(WM_LOG_INFO, "info msg");
  sent += wm_log(WM_LOG_WARN, "warn msg");
  sent += wm_log(WM_LOG_ERROR, "error msg");
  wm_output_u64((uint64_t)sent);
  return 0;
}

/* log_info(0): the null handle is an empty message. Output: "logged". */
WM_EXPORT(log_zero) int32_t log_zero(void) {
  wm_log_info(0);
  wm_output_str("logged");
  return 0;
}

/* Output: get_log_level() as decimal (2147483647 when logging is off). */
WM_EXPORT(log_level) int32_t log_level(void) {
  wm_output_i64(wm_get_log_level());
  return 0;
}

/* Logs every message at every level unconditionally, each through all five
 * imports, without checking get_log_level. Output: "5". */
WM_EXPORT(log_unfiltered) int32_t log_unfiltered(void) {
  wm_log_trace(wm_block_from_str("unfiltered trace"));
  wm_log_debug(wm_block_from_str("unfiltered debug"));
  wm_log_info(wm_block_from_str("unfiltered info"));
  wm_log_warn(wm_block_from_str("unfiltered warn"));
  wm_log_error(wm_block_from_str("unfiltered error"));
  wm_output_str("5");
  return 0;
}

/* Hostile: logs the same 64 KiB message ('x' repeated) at info level forever,
 * a fresh block each time (when alloc starts failing it keeps calling
 * log_info(0)). Never returns: the host must stop it (log limit or timeout). */
WM_EXPORT(log_flood) int32_t log_flood(void) {
  static uint8_t msg[65536];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = 'x';
  for (;;) wm_log_info(wm_block_from(msg, sizeof msg));
  return 0;
}
