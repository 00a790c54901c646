// The subject actor interface the `unrealcv` renderer drives (hmworld/render/unreal.py):
//   vbp <actor> HMSetPose <x_cm> <y_cm> <z_cm> <yaw_deg>    feet on the ground point, facing `yaw`
//   vbp <actor> HMSetAnimationPhase <cycles>               walk cycles completed (ClipSpec walk_phase)
// Every subject Blueprint (BP_<Subject>, made by Scripts/import_subjects.py) derives from this class and only
// sets its mesh, walk animation and proportions. The game is paused while clips render, so both functions
// apply their change at once instead of waiting for a tick.
#pragma once

#include "CoreMinimal.h"
#include "GameFramework/Actor.h"
#include "HMWorldSubject.generated.h"

class USkeletalMeshComponent;
class UAnimSequence;

UCLASS(Blueprintable)
class HMWORLD_API AHMWorldSubject : public AActor
{
	GENERATED_BODY()

public:
	AHMWorldSubject();

	/** Root at the subject's feet: the location HMSetPose receives is the ground point under the body. */
	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Category = "HMWorld")
	TObjectPtr<USceneComponent> Feet;

	UPROPERTY(VisibleAnywhere, BlueprintReadOnly, Category = "HMWorld")
	TObjectPtr<USkeletalMeshComponent> Mesh;

	/** A looping walk (or trot, or hop) animation; phase 0 is its first frame. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "HMWorld")
	TObjectPtr<UAnimSequence> WalkCycle;

	/** How many walk cycles (two steps each) the animation holds: phase p plays at frac(p / CyclesInAnimation). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "HMWorld", meta = (ClampMin = "0.01"))
	float CyclesInAnimation = 1.0f;

	/** Place the actor: location in cm (feet), yaw in degrees (0 faces +X). Pitch and roll stay 0. */
	UFUNCTION(BlueprintCallable, Category = "HMWorld")
	void HMSetPose(float X, float Y, float Z, float Yaw);

	/** Pose the walk cycle at `Cycles` completed cycles and refresh the bones now (the game is paused). */
	UFUNCTION(BlueprintCallable, Category = "HMWorld")
	void HMSetAnimationPhase(float Cycles);
};
