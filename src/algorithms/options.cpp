#include "prism/algorithms/options.hpp"

#include "prism/error.hpp"

namespace prism {

Algorithm parse_algorithm(const std::string &name) {
    if (name == "hals") {
        return Algorithm::hals;
    }
    if (name == "anls-bpp" || name == "bpp" || name == "anls") {
        return Algorithm::anls_bpp;
    }
    if (name == "mu") {
        return Algorithm::mu;
    }
    throw Error("unknown algorithm '" + name + "': expected hals, anls-bpp or mu");
}

std::string to_string(Algorithm a) {
    switch (a) {
    case Algorithm::hals:
        return "hals";
    case Algorithm::anls_bpp:
        return "anls-bpp";
    case Algorithm::mu:
        return "mu";
    }
    return "?";
}

Init parse_init(const std::string &name) {
    if (name == "random") {
        return Init::random;
    }
    if (name == "nndsvd") {
        return Init::nndsvd;
    }
    if (name == "nndsvda") {
        return Init::nndsvda;
    }
    throw Error("unknown init '" + name + "': expected random, nndsvd or nndsvda");
}

std::string to_string(Init i) {
    switch (i) {
    case Init::random:
        return "random";
    case Init::nndsvd:
        return "nndsvd";
    case Init::nndsvda:
        return "nndsvda";
    }
    return "?";
}

} // namespace prism
