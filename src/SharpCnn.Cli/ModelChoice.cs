using SharpCnn.Formats;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Cli;

/// <summary>What <c>--model</c> names: a preset, a spec string, or a saved model file.</summary>
internal sealed record ModelChoice(string Spec, string Loss, InitScheme Init, string? File, string Label)
{
    /// <summary>What <c>train</c> changed in the spec (a resized last layer), for the report; null when nothing.</summary>
    public string? Note { get; init; }

    public static ModelChoice Resolve(string model, string? loss, string? init)
    {
        if (Presets.Find(model) is { } preset)
            return new ModelChoice(preset.Spec, loss ?? preset.Loss, init is null ? preset.Init : Initializer.Parse(init), null, preset.Name);
        if (model.EndsWith(".scnn", StringComparison.OrdinalIgnoreCase) || System.IO.File.Exists(model))
        {
            var header = ModelFile.ReadHeader(model);
            return new ModelChoice(header.Spec, loss ?? header.Loss, init is null ? ModelFactory.DefaultInit : Initializer.Parse(init), model, model);
        }
        ModelSpec.Parse(model); // fail early with the position and reason
        return new ModelChoice(model, loss ?? ModelFactory.DefaultLoss, init is null ? ModelFactory.DefaultInit : Initializer.Parse(init), null, "custom");
    }

    /// <summary>
    /// For a spec (not a file): refuses, before anything is allocated, a network that would not fit in memory when trained
    /// with buffers for <paramref name="batch"/> samples by <paramref name="optimizer"/> (<see cref="MemoryEstimate"/>).
    /// </summary>
    public void CheckMemory<T>(Shape input, int batch, string optimizer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (File is not null) return; // a file's network is bounded by the file; the trainer checks the batch
        var spec = ModelSpec.Parse(Spec);
        MemoryEstimate.ForSpec<T>(spec, spec.Input ?? input, batch, optimizer).EnsureFits();
    }

    /// <summary>The network in precision T: loaded from the file, or built and initialised from <paramref name="seed"/>.</summary>
    public Network<T> Create<T>(Shape input, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (File is not null)
        {
            var loaded = ModelFile.Load<T>(File);
            if (loaded.InputShape.Size != input.Size) throw new ArgumentException($"{File} takes inputs of {loaded.InputShape}, the data are {input}");
            return loaded;
        }
        var spec = ModelSpec.Parse(Spec);
        // A spec with its own input token keeps it; the sizes must still agree.
        var network = ModelFactory.FromSpec<T>(spec, spec.Input ?? input, Loss, Init, seed);
        if (network.InputShape.Size != input.Size) throw new ArgumentException($"the model takes inputs of {network.InputShape}, the data are {input}");
        return network;
    }
}
