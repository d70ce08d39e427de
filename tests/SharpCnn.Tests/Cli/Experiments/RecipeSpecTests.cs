using System.Text.RegularExpressions;
using SharpCnn.Cli.Experiments;

namespace SharpCnn.Tests.Cli.Experiments;

/// <summary>
/// bench/compare-pytorch.sh measures the Fashion-MNIST recipe's model side by side with PyTorch: its copy of the spec
/// is <see cref="ExperimentCatalog.FashionSpec"/>, and the PyTorch peer's model has the same dropout rates in the same order.
/// </summary>
public class RecipeSpecTests
{
    private static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SharpCnn.slnx")))
                return Path.Combine(dir.FullName, relative);
        throw new DirectoryNotFoundException($"no SharpCnn.slnx above {AppContext.BaseDirectory}");
    }

    [Fact]
    public void TheComparisonScriptMeasuresTheCatalogsRecipeModel()
    {
        string script = File.ReadAllText(RepositoryFile("bench/compare-pytorch.sh"));
        var m = Regex.Match(script, "(?m)^recipe_spec=\"([^\"]+)\"");
        Assert.True(m.Success, "bench/compare-pytorch.sh has no recipe_spec=\"...\" line");
        Assert.Equal(ExperimentCatalog.FashionSpec, m.Groups[1].Value);
    }

    [Fact]
    public void ThePyTorchPeersRecipeModelHasTheSameLayersInTheSameOrder()
    {
        string python = File.ReadAllText(RepositoryFile("bench/pytorch_seed_cnn.py"));
        var body = Regex.Match(python, @"def recipe_cnn\(\):(.*?)\n\n", RegexOptions.Singleline);
        Assert.True(body.Success, "bench/pytorch_seed_cnn.py has no recipe_cnn()");
        // The PyTorch modules in order, named as SharpCnn's tokens.
        var torch = Regex.Matches(body.Groups[1].Value, @"nn\.(\w+)\(([^()]*)\)").Select(x => x.Groups[1].Value switch
        {
            "Conv2d" => "conv" + Regex.Match(x.Groups[2].Value, @"\d+, (\d+), (\d+)").Result("$2x$2x$1") + ":same",
            "BatchNorm2d" or "BatchNorm1d" => "batchnorm",
            "ReLU" => "relu",
            "MaxPool2d" => "maxpool" + x.Groups[2].Value,
            "Dropout" => "dropout" + x.Groups[2].Value,
            "Flatten" => "flatten",
            "Linear" => "dense" + x.Groups[2].Value.Split(',')[1].Trim(),
            string other => other,
        });
        Assert.Equal(ExperimentCatalog.FashionSpec, string.Join(",", torch));
    }
}
