// Editor target: building levels and subject Blueprints with the editor Python scripts in Scripts/.
using UnrealBuildTool;

public class HMWorldEditorTarget : TargetRules
{
	public HMWorldEditorTarget(TargetInfo Target) : base(Target)
	{
		Type = TargetType.Editor;
		DefaultBuildSettings = BuildSettingsVersion.Latest;
		IncludeOrderVersion = EngineIncludeOrderVersion.Latest;
		ExtraModuleNames.Add("HMWorld");
	}
}
