// A plain game module: it exists so the project builds with the UnrealCV code plugin and holds AHMWorldSubject.
#include "Modules/ModuleManager.h"

IMPLEMENT_PRIMARY_GAME_MODULE(FDefaultGameModuleImpl, HMWorld, "HMWorld");
