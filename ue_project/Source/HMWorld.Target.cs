// Game target: the packaged, headless-capable game `hmworld render renderer=unrealcv` launches.
using UnrealBuildTool;

public class HMWorldTarget : TargetRules
{
	public HMWorldTarget(TargetInfo Target) : base(Target)
	{
		Type = TargetType.Game;
		DefaultBuildSettings = BuildSettingsVersion.Latest;
		IncludeOrderVersion = EngineIncludeOrderVersion.Latest;
		ExtraModuleNames.Add("HMWorld");
	}
}
