// PLACEHOLDER: being written (safetensors.h is the contract).
#include "model/safetensors.h"
