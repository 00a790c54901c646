#include "HMWorldSubject.h"

#include "Animation/AnimSequence.h"
#include "Animation/AnimSingleNodeInstance.h"
#include "Components/SkeletalMeshComponent.h"

AHMWorldSubject::AHMWorldSubject()
{
	PrimaryActorTick.bCanEverTick = false;

	Feet = CreateDefaultSubobject<USceneComponent>(TEXT("Feet"));
	RootComponent = Feet;

	Mesh = CreateDefaultSubobject<USkeletalMeshComponent>(TEXT("Mesh"));
	Mesh->SetupAttachment(Feet);
	// Most skeletal meshes face +Y; turn them so the actor's +X (yaw 0) is where the subject looks.
	Mesh->SetRelativeRotation(FRotator(0.0f, -90.0f, 0.0f));
	Mesh->SetCollisionEnabled(ECollisionEnabled::NoCollision);
	Mesh->SetAnimationMode(EAnimationMode::AnimationSingleNode);
	// Evaluate bones even off screen and while paused: the renderer poses, then captures in the same tick.
	Mesh->VisibilityBasedAnimTickOption = EVisibilityBasedAnimTickOption::AlwaysTickPoseAndRefreshBones;
	Mesh->PrimaryComponentTick.bTickEvenWhenPaused = true;
	Mesh->bEnableUpdateRateOptimizations = false;
}

void AHMWorldSubject::HMSetPose(float X, float Y, float Z, float Yaw)
{
	SetActorLocationAndRotation(FVector(X, Y, Z), FRotator(0.0f, Yaw, 0.0f), false, nullptr,
	                            ETeleportType::TeleportPhysics);
}

void AHMWorldSubject::HMSetAnimationPhase(float Cycles)
{
	if (WalkCycle == nullptr || Mesh == nullptr)
	{
		return;
	}
	UAnimSingleNodeInstance* Instance = Mesh->GetSingleNodeInstance();
	if (Instance == nullptr || Instance->GetAnimationAsset() != WalkCycle)
	{
		Mesh->PlayAnimation(WalkCycle, /*bLooping=*/true);
		Instance = Mesh->GetSingleNodeInstance();
	}
	if (Instance == nullptr)
	{
		return;
	}
	// Hold the chosen time: the animation never advances by itself, so a frame depends on its phase alone.
	Instance->SetPlayRate(0.0f);
	const float Fraction = FMath::Frac(Cycles / FMath::Max(CyclesInAnimation, 0.01f));
	Mesh->SetPosition(Fraction * WalkCycle->GetPlayLength(), /*bFireNotifies=*/false);
	Mesh->TickAnimation(0.0f, false);
	Mesh->RefreshBoneTransforms();
}
