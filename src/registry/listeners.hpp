// registry/listeners.hpp: the change listeners of Registry and the catalogs (core/snapshot.hpp).
#pragma once

#include "core/snapshot.hpp"

namespace wasimancer::registry {

using wasimancer::Listeners;

}  // namespace wasimancer::registry
