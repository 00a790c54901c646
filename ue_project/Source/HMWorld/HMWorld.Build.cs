// The project's one module: the subject actor class whose functions the renderer calls through `vbp`.
using UnrealBuildTool;

public class HMWorld : ModuleRules
{
	public HMWorld(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine" });
	}
}
