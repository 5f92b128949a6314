"""The ``[verifier]`` section: the crop check that tells a cat from a dog or anything else
(MobileNet v2 features and a head trained on pet photos, ``perception/classifier.py``), and the
rules the tracker's decisions apply to its verdicts (``perception/decide.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from cat_follow.config_schema import field_doc as _f


@dataclass(frozen=True)
class VerifierConfig:
    enabled: bool = _f(True, "Check the tracked crop with the cat/dog/other classifier (MobileNet v2 features "
                       "and a head trained on pet photos) before confirming a target and while tracking it (a "
                       "detector alone calls fluffy dogs cats).")
    manifest: str = _f("mobilenet_v2_imagenet_quant", "Classifier backbone manifest (name or .toml path).")
    model: str = _f("", "Classifier file overriding the manifest's; empty = under the assets.")
    head: str = _f("", "Trained head (.npy written by `cat-follow train-classifier --out`); empty = the "
                   "shipped cat_follow/perception/pet_head.npy.")
    min_box_px: int = _f(96, "A box whose longer side is below this (slot pixels) is too small for the classifier "
                         "to judge (a rendered cat 2 m away, 76 px: cat 0.06; 1.5 m, 101 px: 0.99): such a candidate "
                         "is confirmed on detector hits alone, and checked as soon as its box grows past this.",
                         lo=0, hi=4096)
    margin: float = _f(0.15, "The crop is a square of the box's longer side plus this share of it.", lo=0.0, hi=2.0)
    every_s: float = _f(0.5, "Re-check a confirmed target at least this often (frame time), and check the animal "
                        "in view least sure of its class at most this often: the classifier's share of the Pi's "
                        "budget (2 checks/s, ~7% of a core; docs/pi_budget.md).", lo=0.05, hi=60.0)
    resize: float = _f(1.5, "Also re-check when the box's area changed by more than this factor since the last "
                       "check (or its centre left the box that was checked): a box that grew or shrank this "
                       "much may now hold another animal, or only part of the cat (at 2.0 kitten_playing's present "
                       "fell .983 -> .948; README, \"Tuned constants\").", lo=1.05, hi=10.0)
    same_cat: float = _f(0.5, "A crop whose appearance embedding is at least this like the confirmed cat's "
                         "(cosine to the closest of its last 8 crops the classifier called cats) is the same cat: "
                         "it is not dropped as unverified or decoy (the classifier calls some kittens puppies), "
                         "and after a loss it is re-confirmed without a cat verdict unless dog is the crop's "
                         "likeliest class; both only within identity_s of the classifier's last cat verdict, "
                         "never after a jump. The same cat's later crops on the sample and dev videos reach it 97% of "
                         "the time; a dog crop and a cat's look, 1 pair in 6,000 (dog-only videos and held-out "
                         "pets dogs against 373 cat looks), where colour (same_look) matched 1 pair in 66 "
                         "(README, \"The cat's look\").",
                         lo=-1.0, hi=1.01)
    same_look: float = _f(0.85, "Colour signatures (Bhattacharyya, 0..1) at least this similar may be one cat: after "
                          "a loss, a cat that is below it against the followed cat and looks more like another cat "
                          "seen beside it is not taken for the lost one (two cats at or above it are not told apart "
                          "by colour). Same cat a few frames apart: >= 0.86 on 90% of the sample videos' checks; a "
                          "cat and a dog: <= 0.78 on 90%.", lo=0.0, hi=1.01)
    probe_dogs: bool = _f(True, "With no target, check the crop of the strongest dog detection (score >= "
                          "detector.score_threshold, longer side >= min_box_px) with each detector job: a cat verdict "
                          "makes it a cat candidate, followed by the classifier's checks (NanoDet calls a Siamese "
                          "on a lawn a dog; the classifier called 0 of 261 dog boxes on the dog-only videos cats). "
                          "Also while KCF has lost the confirmed cat: a cat verdict with the cat's look "
                          "(same_cat) is the lost cat, back under a dog label (kittens often are). "
                          "Costs one classifier run per job while a dog is in view and nothing is followed.")
    other_cat_margin: float = _f(0.1, "When the followed box moves onto another track (the tracker or the detector "
                                 "took another animal), its next crop check asks whose it is: a crop whose embedding "
                                 "is more like the gallery of an animal seen apart from the previous track than "
                                 "the previous track's by this much (cosine) is another cat, and the target goes "
                                 "back to the previous track's box (kept where it is if that track is not in "
                                 "view). After a loss, for as long as the robot looks for the lost cat, a "
                                 "candidate's crop this much more like the animals seen beside it than like the "
                                 "cat is another cat: dropped, and not taken again meanwhile (README, \"Identity "
                                 "after a loss\"). With clean galleries of 8 crops on the checked two-cat dev "
                                 "video the followed cat's own gallery wins by at least 0.13 for 90% of its crops "
                                 "(README, \"Identity by appearance\").", lo=0.0, hi=2.0)
    identity_s: float = _f(30.0, "For this long after the followed cat was last called a cat, prefer the candidate "
                           "whose colour signature is most like its, keep its look (same_cat), and let the look "
                           "stand in for a cat verdict. (A calico kitten the classifier calls a puppy went about "
                           "10 s between cat verdicts on its real crops.)",
                           lo=0.0, hi=3600.0)
